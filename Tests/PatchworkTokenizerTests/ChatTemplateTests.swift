import Foundation
import PatchworkTesting
import PatchworkTokenizer
import Testing

/// Real chat templates (SmolLM2, Qwen3, Llama 3.3) against transformers' rendering.
struct ChatTemplateTests {
    struct Case: Decodable {
        struct Message: Decodable { var role: String; var content: String }
        var template: String
        var messages: [Message]
        var add_generation_prompt: Bool
        var rendered: String
    }

    @Test func rendersLikeTransformers() throws {
        let cases = try TestPaths.reference("templates", as: [Case].self)
        #expect(cases.count == 18)
        for c in cases {
            let source = try String(contentsOf: TestPaths.fixtures.appendingPathComponent("templates/\(c.template)"), encoding: .utf8)
            let rendered = try ChatTemplate(source).render(
                messages: c.messages.map { ChatMessage(role: $0.role, content: $0.content) },
                addGenerationPrompt: c.add_generation_prompt, bosToken: "<BOS>", eosToken: "<EOS>"
            )
            #expect(rendered == c.rendered, "\(c.template) with \(c.messages.count) messages, generation prompt \(c.add_generation_prompt)")
        }
    }

    @Test(arguments: [
        ("{{ 'a' ~ 1 ~ none }}", "a1None"),
        ("{% for x in [1, 2, 3] if x != 2 %}{{ loop.index }}{{ x }}{% if not loop.last %},{% endif %}{% endfor %}", "11,23"),
        ("{% set ns = namespace(n=0) %}{% for i in range(3) %}{% set ns.n = ns.n + i %}{% endfor %}{{ ns.n }}", "3"),
        ("{{ [3, 1, 2] | length }} {{ 'Ab' | upper }} {{ ' x ' | trim }} {{ {'k': [1, 'v']} | tojson }}", "3 AB x {\"k\": [1, \"v\"]}"),
        ("{{ 'a,b,,c'.split(',')[-1] }}{{ 'hello'[1:3] }}{{ [1,2,3][::-1] }}", "cel[3, 2, 1]"),
        ("{% if x is defined %}d{% elif y is not none %}y{% else %}n{% endif %}", "y"),  // undefined is not none, as in Jinja2
        ("{%- macro greet(name, punct='!') -%}Hi {{ name }}{{ punct }}{%- endmacro -%}{{ greet('Ann') }} {{ greet('Bo', '?') }}", "Hi Ann! Hi Bo?"),
        ("  {% if true %}\n  x\n  {% endif %}\ny", "  x\ny"),
        ("{{ 7 // 2 }} {{ 7 % 3 }} {{ 1 / 2 }} {{ 2 * 3 + 1 }} {{ -3 }} {{ 'x' * 3 }}", "3 1 0.5 7 -3 xxx"),
        ("{% for k, v in {'a': 1, 'b': 2} | items %}{{ k }}={{ v }};{% endfor %}", "a=1;b=2;"),
    ])
    func evaluatesJinja(template: String, expected: String) throws {
        #expect(try ChatTemplate(template).render(messages: [], addGenerationPrompt: false) == expected)
    }

    @Test func raiseExceptionAndBadTemplatesGiveClearErrors() {
        #expect { try ChatTemplate("{{ raise_exception('no system role') }}").render(messages: [], addGenerationPrompt: false) } throws: {
            "\($0)".contains("no system role")
        }
        #expect { try ChatTemplate("{% for x in y %}") } throws: { "\($0)".contains("without endfor") }
        #expect { try ChatTemplate("{{ x | frobnicate }}").render(messages: [], addGenerationPrompt: false) } throws: { "\($0)".contains("frobnicate") }
    }
}
