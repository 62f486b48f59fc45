import Foundation

/// The syntax tree of a template.
indirect enum JinjaNode: Sendable {
    case text(String)
    case output(JinjaExpression)
    case forLoop(targets: [String], iterable: JinjaExpression, filter: JinjaExpression?, body: [JinjaNode], otherwise: [JinjaNode])
    case conditional(branches: [(JinjaExpression, [JinjaNode])], otherwise: [JinjaNode])
    case set(target: JinjaExpression, value: JinjaExpression)
    case setBlock(name: String, body: [JinjaNode])
    case macro(JinjaMacro)
    case loopBreak
    case loopContinue
}

indirect enum JinjaExpression: Sendable {
    case literal(JinjaValue)
    case name(String)
    case list([JinjaExpression])
    case dict([(JinjaExpression, JinjaExpression)])
    case attribute(JinjaExpression, String)
    case index(JinjaExpression, JinjaExpression)
    case slice(JinjaExpression, JinjaExpression?, JinjaExpression?, JinjaExpression?)
    case call(JinjaExpression, [JinjaExpression], [(String, JinjaExpression)])
    case filter(JinjaExpression, String, [JinjaExpression], [(String, JinjaExpression)])
    case test(JinjaExpression, String, [JinjaExpression], negated: Bool)
    case unary(String, JinjaExpression)
    case binary(String, JinjaExpression, JinjaExpression)
    case ternary(JinjaExpression, condition: JinjaExpression, otherwise: JinjaExpression?)
}

/// A template that cannot be parsed or rendered, with where and why.
public struct ChatTemplateError: Error, Equatable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Splits a template into text and tags, applying `-` whitespace control and Hugging Face's
/// `trim_blocks` (drop the newline after a block tag) and `lstrip_blocks` (drop spaces before
/// a block tag on its line).
enum JinjaLexer {
    enum Piece: Equatable {
        case text(String)
        case expression(String)
        case statement(String)
    }

    static func pieces(_ template: String) throws(ChatTemplateError) -> [Piece] {
        var pieces: [Piece] = []
        var rest = Substring(template)
        var trimNextLeading = false, trimBlockNewline = false
        while !rest.isEmpty {
            guard let open = rest.firstRange(of: #/\{[{%#]/#) else {
                pieces.append(.text(adjust(String(rest), trimLeading: trimNextLeading, trimNewline: trimBlockNewline, trimTrailing: false, lstrip: false, atTemplateStart: false)))
                break
            }
            let kind = rest[rest.index(after: open.lowerBound)]
            var inner = rest[open.upperBound...]
            let stripBefore = inner.first == "-"
            if stripBefore || inner.first == "+" { inner = inner.dropFirst() }
            let closer: String = kind == "{" ? "}}" : kind == "%" ? "%}" : "#}"
            guard let close = inner.range(of: closer) else { throw ChatTemplateError("unclosed {\(kind) tag") }
            var body = inner[..<close.lowerBound]
            let stripAfter = body.last == "-"
            if stripAfter || body.last == "+" { body = body.dropLast() }
            let isBlock = kind != "{"
            let text = String(rest[..<open.lowerBound])
            let atTemplateStart = rest.startIndex == template.startIndex
            pieces.append(.text(adjust(
                text, trimLeading: trimNextLeading, trimNewline: trimBlockNewline, trimTrailing: stripBefore,
                lstrip: isBlock && !stripBefore, atTemplateStart: atTemplateStart
            )))
            switch kind {
            case "{": pieces.append(.expression(String(body)))
            case "%": pieces.append(.statement(String(body)))
            default: break
            }
            trimNextLeading = stripAfter
            trimBlockNewline = isBlock && !stripAfter
            rest = inner[close.upperBound...]
        }
        return pieces.filter { $0 != .text("") }
    }

    private static func adjust(_ text: String, trimLeading: Bool, trimNewline: Bool, trimTrailing: Bool, lstrip: Bool, atTemplateStart: Bool) -> String {
        var t = Substring(text)
        if trimLeading { t = t.drop { $0.isWhitespace } }
        else if trimNewline && t.first == "\n" { t = t.dropFirst() }
        else if trimNewline && t.hasPrefix("\r\n") { t = t.dropFirst(2) }
        if trimTrailing { while let last = t.last, last.isWhitespace { t = t.dropLast() } }
        else if lstrip {
            // Only spaces and tabs between the last newline and the tag go.
            var end = t.endIndex
            while end > t.startIndex, t[t.index(before: end)] == " " || t[t.index(before: end)] == "\t" { end = t.index(before: end) }
            // Only when the spaces start a line: after a newline in this text, or at the template's start.
            if end > t.startIndex ? t[t.index(before: end)] == "\n" : atTemplateStart { t = t[..<end] }
        }
        return String(t)
    }
}
