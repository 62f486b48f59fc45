import Foundation

/// One message of a conversation, as chat templates see it.
public struct ChatMessage: Sendable, Equatable {
    public var role: String
    public var content: String
    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }
}

/// A model's chat template (Jinja, as in `tokenizer_config.json` or GGUF's
/// `tokenizer.chat_template`), rendered the way Hugging Face's `apply_chat_template` does.
public struct ChatTemplate: Sendable {
    let nodes: [JinjaNode]

    public init(_ source: String) throws(ChatTemplateError) {
        var parser = try JinjaParser(source)
        nodes = try parser.parse()
    }

    /// The prompt for `messages`.
    /// - Parameter addGenerationPrompt: end with the header of the assistant's turn.
    public func render(
        messages: [ChatMessage], addGenerationPrompt: Bool, bosToken: String = "", eosToken: String = "",
        extra: [String: Any] = [:]
    ) throws(ChatTemplateError) -> String {
        var context: [String: JinjaValue] = [
            "messages": .array(messages.map { .dict([("role", .string($0.role)), ("content", .string($0.content))]) }),
            "add_generation_prompt": .bool(addGenerationPrompt),
            "bos_token": .string(bosToken), "eos_token": .string(eosToken),
        ]
        for (key, value) in extra { context[key] = JinjaValue.fromJSON(value) }
        return try render(context: context)
    }

    func render(context: [String: JinjaValue]) throws(ChatTemplateError) -> String {
        var renderer = JinjaRenderer(globals: context)
        _ = try renderer.execute(nodes)
        return renderer.output
    }
}

/// Walks the tree and writes the output.
struct JinjaRenderer {
    enum Flow { case normal, breakLoop, continueLoop }

    var scopes: [[String: JinjaValue]]
    var output = ""

    init(globals: [String: JinjaValue]) { scopes = [globals] }

    func lookup(_ name: String) -> JinjaValue {
        for scope in scopes.reversed() { if let value = scope[name] { return value } }
        return .undefined
    }

    mutating func assign(_ name: String, _ value: JinjaValue) { scopes[scopes.count - 1][name] = value }

    mutating func execute(_ nodes: [JinjaNode]) throws(ChatTemplateError) -> Flow {
        for node in nodes {
            switch node {
            case .text(let text): output += text
            case .output(let expression): output += try evaluate(expression).text
            case .set(let target, let value):
                let v = try evaluate(value)
                switch target {
                case .name(let name): assign(name, v)
                case .attribute(let object, let key):
                    guard case .namespace(let ns) = try evaluate(object) else { throw ChatTemplateError("can only set attributes of a namespace") }
                    ns.set(key, v)
                case .list(let names):
                    guard let items = v.items, items.count == names.count else { throw ChatTemplateError("cannot unpack \(v.repr)") }
                    for (n, item) in zip(names, items) { if case .name(let name) = n { assign(name, item) } }
                default: throw ChatTemplateError("cannot assign to this target")
                }
            case .setBlock(let name, let body):
                let saved = output
                output = ""
                _ = try execute(body)
                let captured = output
                output = saved
                assign(name, .string(captured))
            case .macro(let macro): assign(macro.name, .macro(macro))
            case .conditional(let branches, let otherwise):
                var taken = false
                for (condition, body) in branches where try evaluate(condition).isTruthy {
                    taken = true
                    let flow = try execute(body)
                    if flow != .normal { return flow }
                    break
                }
                if !taken {
                    let flow = try execute(otherwise)
                    if flow != .normal { return flow }
                }
            case .forLoop(let targets, let iterable, let filter, let body, let otherwise):
                try runLoop(targets: targets, iterable: iterable, filter: filter, body: body, otherwise: otherwise)
            case .loopBreak: return .breakLoop
            case .loopContinue: return .continueLoop
            }
        }
        return .normal
    }

    private mutating func runLoop(
        targets: [String], iterable: JinjaExpression, filter: JinjaExpression?, body: [JinjaNode], otherwise: [JinjaNode]
    ) throws(ChatTemplateError) {
        let source = try evaluate(iterable)
        var items: [JinjaValue]
        if case .dict(let pairs) = source, targets.count == 2 {
            items = pairs.map { .array([.string($0.0), $0.1]) }
        } else {
            guard let list = source.items else {
                if case .undefined = source { items = [] } else { throw ChatTemplateError("cannot loop over \(source.typeName)") }
                return try runLoopItems([], targets: targets, filter: filter, body: body, otherwise: otherwise)
            }
            items = list
        }
        try runLoopItems(items, targets: targets, filter: filter, body: body, otherwise: otherwise)
    }

    private mutating func bind(_ targets: [String], _ item: JinjaValue) throws(ChatTemplateError) {
        if targets.count == 1 { assign(targets[0], item); return }
        guard let parts = item.items, parts.count == targets.count else { throw ChatTemplateError("cannot unpack \(item.repr) into \(targets.count) names") }
        for (name, part) in zip(targets, parts) { assign(name, part) }
    }

    private mutating func runLoopItems(
        _ all: [JinjaValue], targets: [String], filter: JinjaExpression?, body: [JinjaNode], otherwise: [JinjaNode]
    ) throws(ChatTemplateError) {
        var items = all
        if let filter {
            scopes.append([:])
            var kept: [JinjaValue] = []
            for item in all {
                try bind(targets, item)
                if try evaluate(filter).isTruthy { kept.append(item) }
            }
            scopes.removeLast()
            items = kept
        }
        if items.isEmpty {
            _ = try execute(otherwise)
            return
        }
        scopes.append([:])
        defer { scopes.removeLast() }
        for (i, item) in items.enumerated() {
            try bind(targets, item)
            assign("loop", .dict([
                ("index", .int(i + 1)), ("index0", .int(i)), ("first", .bool(i == 0)), ("last", .bool(i == items.count - 1)),
                ("length", .int(items.count)), ("revindex", .int(items.count - i)), ("revindex0", .int(items.count - i - 1)),
                ("previtem", i > 0 ? items[i - 1] : .undefined), ("nextitem", i + 1 < items.count ? items[i + 1] : .undefined),
            ]))
            if try execute(body) == .breakLoop { break }
        }
    }

    // MARK: Expressions

    mutating func evaluate(_ expression: JinjaExpression) throws(ChatTemplateError) -> JinjaValue {
        switch expression {
        case .literal(let value): return value
        case .name(let name): return lookup(name)
        case .list(let items):
            var values: [JinjaValue] = []
            for item in items { values.append(try evaluate(item)) }
            return .array(values)
        case .dict(let pairs):
            var values: [(String, JinjaValue)] = []
            for (k, v) in pairs { values.append((try evaluate(k).text, try evaluate(v))) }
            return .dict(values)
        case .attribute(let object, let name):
            let value = try evaluate(object)
            return value[name]
        case .index(let object, let key):
            let value = try evaluate(object), k = try evaluate(key)
            switch (value, k) {
            case (.array(let a), .int(let i)):
                let j = i < 0 ? a.count + i : i
                return a.indices.contains(j) ? a[j] : .undefined
            case (.string(let s), .int(let i)):
                let chars = Array(s), j = i < 0 ? chars.count + i : i
                return chars.indices.contains(j) ? .string(String(chars[j])) : .undefined
            default: return value[k.text]
            }
        case .slice(let object, let start, let stop, let step):
            let value = try evaluate(object)
            let s = try start.map { e throws(ChatTemplateError) in try evaluate(e) }
            let e = try stop.map { x throws(ChatTemplateError) in try evaluate(x) }
            let st = try step.map { x throws(ChatTemplateError) in try evaluate(x) }
            return try JinjaBuiltins.slice(value, start: s, stop: e, step: st)
        case .call(let callee, let arguments, let keywords):
            var args: [JinjaValue] = [], kwargs: [(String, JinjaValue)] = []
            for a in arguments { args.append(try evaluate(a)) }
            for (k, v) in keywords { kwargs.append((k, try evaluate(v))) }
            if case .attribute(let object, let method) = callee {
                return try JinjaBuiltins.method(try evaluate(object), method, args, kwargs)
            }
            if case .name(let name) = callee, case .undefined = lookup(name) {
                return try JinjaBuiltins.global(name, args, kwargs)
            }
            guard case .macro(let macro) = try evaluate(callee) else { throw ChatTemplateError("not callable") }
            return try call(macro, args, kwargs)
        case .filter(let object, let name, let arguments, let keywords):
            var args: [JinjaValue] = [], kwargs: [(String, JinjaValue)] = []
            for a in arguments { args.append(try evaluate(a)) }
            for (k, v) in keywords { kwargs.append((k, try evaluate(v))) }
            return try JinjaBuiltins.filter(name, try evaluate(object), args, kwargs)
        case .test(let object, let name, let arguments, let negated):
            var args: [JinjaValue] = []
            for a in arguments { args.append(try evaluate(a)) }
            let result = try JinjaBuiltins.test(name, try evaluate(object), args)
            return .bool(negated ? !result : result)
        case .unary(let op, let operand):
            let value = try evaluate(operand)
            switch op {
            case "not": return .bool(!value.isTruthy)
            case "-":
                switch value {
                case .int(let i): return .int(-i)
                case .double(let d): return .double(-d)
                default: throw ChatTemplateError("cannot negate \(value.typeName)")
                }
            default: throw ChatTemplateError("unknown operator \(op)")
            }
        case .binary(let op, let lhs, let rhs):
            let left = try evaluate(lhs)
            if op == "and" { return left.isTruthy ? try evaluate(rhs) : left }
            if op == "or" { return left.isTruthy ? left : try evaluate(rhs) }
            return try JinjaBuiltins.binary(op, left, try evaluate(rhs))
        case .ternary(let value, let condition, let otherwise):
            if try evaluate(condition).isTruthy { return try evaluate(value) }
            return try otherwise.map { e throws(ChatTemplateError) in try evaluate(e) } ?? .undefined
        }
    }

    private mutating func call(_ macro: JinjaMacro, _ args: [JinjaValue], _ kwargs: [(String, JinjaValue)]) throws(ChatTemplateError) -> JinjaValue {
        var scope: [String: JinjaValue] = [:]
        for (i, (name, defaultValue)) in macro.parameters.enumerated() {
            if i < args.count { scope[name] = args[i] }
            else if let given = kwargs.first(where: { $0.0 == name }) { scope[name] = given.1 }
            else if let defaultValue { scope[name] = try evaluate(defaultValue) }
            else { scope[name] = .undefined }
        }
        let saved = output
        output = ""
        scopes.append(scope)
        _ = try execute(macro.body)
        scopes.removeLast()
        let result = output
        output = saved
        return .string(result)
    }
}
