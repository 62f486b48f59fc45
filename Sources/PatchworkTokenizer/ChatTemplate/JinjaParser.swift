/// Parses template pieces into a syntax tree: statements by recursive descent over the tag
/// list, expressions by precedence climbing (Jinja's grammar, Python's precedence).
struct JinjaParser {
    enum Token: Equatable {
        case name(String)
        case string(String)
        case int(Int)
        case double(Double)
        case op(String)
    }

    private var pieces: [JinjaLexer.Piece]
    private var index = 0

    init(_ template: String) throws(ChatTemplateError) {
        pieces = try JinjaLexer.pieces(template)
    }

    mutating func parse() throws(ChatTemplateError) -> [JinjaNode] {
        let (nodes, end) = try parseBlock(until: [])
        if let end { throw ChatTemplateError("unexpected {% \(end) %}") }
        return nodes
    }

    /// Nodes up to one of `terminators` (a statement's first word); returns it, nil at the end.
    private mutating func parseBlock(until terminators: Set<String>) throws(ChatTemplateError) -> ([JinjaNode], String?) {
        var nodes: [JinjaNode] = []
        while index < pieces.count {
            let piece = pieces[index]
            index += 1
            switch piece {
            case .text(let text): nodes.append(.text(text))
            case .expression(let source):
                var tokens = try TokenStream(source)
                let expression = try tokens.expression()
                try tokens.expectEnd()
                nodes.append(.output(expression))
            case .statement(let source):
                var tokens = try TokenStream(source)
                guard case .name(let keyword)? = tokens.next() else { throw ChatTemplateError("empty {% %} tag") }
                if terminators.contains(keyword) {
                    index -= 1  // the caller reads the terminator's own tokens
                    return (nodes, keyword)
                }
                nodes.append(try parseStatement(keyword, &tokens))
            }
        }
        return (nodes, nil)
    }

    private mutating func terminatorTokens() throws(ChatTemplateError) -> TokenStream {
        guard case .statement(let source) = pieces[index] else { throw ChatTemplateError("internal: expected a statement") }
        index += 1
        var tokens = try TokenStream(source)
        _ = tokens.next()
        return tokens
    }

    private mutating func parseStatement(_ keyword: String, _ tokens: inout TokenStream) throws(ChatTemplateError) -> JinjaNode {
        switch keyword {
        case "for":
            var targets: [String] = []
            repeat {
                guard case .name(let target)? = tokens.next() else { throw ChatTemplateError("for: expected a name") }
                targets.append(target)
            } while tokens.accept(.op(","))
            guard tokens.accept(.name("in")) else { throw ChatTemplateError("for: expected 'in'") }
            let iterable = try tokens.expression(allowTernary: false)
            let filter = tokens.accept(.name("if")) ? try tokens.expression() : nil
            _ = tokens.accept(.name("recursive"))
            try tokens.expectEnd()
            let (body, end) = try parseBlock(until: ["else", "endfor"])
            var otherwise: [JinjaNode] = []
            if end == "else" {
                _ = try terminatorTokens()
                let (elseBody, elseEnd) = try parseBlock(until: ["endfor"])
                guard elseEnd != nil else { throw ChatTemplateError("for without endfor") }
                otherwise = elseBody
            } else if end == nil { throw ChatTemplateError("for without endfor") }
            _ = try terminatorTokens()
            return .forLoop(targets: targets, iterable: iterable, filter: filter, body: body, otherwise: otherwise)
        case "if":
            var branches: [(JinjaExpression, [JinjaNode])] = []
            var condition = try tokens.expression()
            try tokens.expectEnd()
            var otherwise: [JinjaNode] = []
            while true {
                let (body, end) = try parseBlock(until: ["elif", "else", "endif"])
                branches.append((condition, body))
                guard let end else { throw ChatTemplateError("if without endif") }
                var next = try terminatorTokens()
                if end == "elif" {
                    condition = try next.expression()
                    try next.expectEnd()
                    continue
                }
                if end == "else" {
                    let (elseBody, elseEnd) = try parseBlock(until: ["endif"])
                    guard elseEnd != nil else { throw ChatTemplateError("if without endif") }
                    otherwise = elseBody
                    _ = try terminatorTokens()
                }
                break
            }
            return .conditional(branches: branches, otherwise: otherwise)
        case "set":
            let target = try tokens.postfix()
            if tokens.accept(.op("=")) {
                let value = try tokens.expression()
                try tokens.expectEnd()
                return .set(target: target, value: value)
            }
            guard case .name(let name) = target else { throw ChatTemplateError("set block needs a plain name") }
            try tokens.expectEnd()
            let (body, end) = try parseBlock(until: ["endset"])
            guard end != nil else { throw ChatTemplateError("set without endset") }
            _ = try terminatorTokens()
            return .setBlock(name: name, body: body)
        case "macro":
            guard case .name(let name)? = tokens.next(), tokens.accept(.op("(")) else { throw ChatTemplateError("macro: expected name(") }
            var parameters: [(String, JinjaExpression?)] = []
            while !tokens.accept(.op(")")) {
                guard case .name(let parameter)? = tokens.next() else { throw ChatTemplateError("macro: expected a parameter") }
                parameters.append((parameter, tokens.accept(.op("=")) ? try tokens.expression() : nil))
                _ = tokens.accept(.op(","))
            }
            try tokens.expectEnd()
            let (body, end) = try parseBlock(until: ["endmacro"])
            guard end != nil else { throw ChatTemplateError("macro without endmacro") }
            _ = try terminatorTokens()
            return .macro(JinjaMacro(name: name, parameters: parameters, body: body))
        case "break": return .loopBreak
        case "continue": return .loopContinue
        case "generation", "endgeneration": return .text("")  // transformers' marker for assistant masks
        default:
            throw ChatTemplateError("unsupported statement {% \(keyword) %}")
        }
    }
}

/// Tokens of one tag, with the expression grammar over them.
struct TokenStream {
    private var tokens: [JinjaParser.Token]
    private var position = 0

    init(_ source: String) throws(ChatTemplateError) {
        tokens = try Self.tokenize(source)
    }

    mutating func next() -> JinjaParser.Token? {
        guard position < tokens.count else { return nil }
        defer { position += 1 }
        return tokens[position]
    }

    func peek(_ offset: Int = 0) -> JinjaParser.Token? { position + offset < tokens.count ? tokens[position + offset] : nil }

    mutating func accept(_ token: JinjaParser.Token) -> Bool {
        guard peek() == token else { return false }
        position += 1
        return true
    }

    mutating func expect(_ token: JinjaParser.Token) throws(ChatTemplateError) {
        guard accept(token) else { throw ChatTemplateError("expected \(token), found \(peek().map { "\($0)" } ?? "end of tag")") }
    }

    func expectEnd() throws(ChatTemplateError) {
        if let extra = peek() { throw ChatTemplateError("unexpected \(extra) in tag") }
    }

    // expression := or ('if' or ('else' expression)?)?
    mutating func expression(allowTernary: Bool = true) throws(ChatTemplateError) -> JinjaExpression {
        let value = try or()
        guard allowTernary, accept(.name("if")) else { return value }
        let condition = try or()
        let otherwise = accept(.name("else")) ? try expression() : nil
        return .ternary(value, condition: condition, otherwise: otherwise)
    }

    private mutating func or() throws(ChatTemplateError) -> JinjaExpression {
        var left = try and()
        while accept(.name("or")) { left = .binary("or", left, try and()) }
        return left
    }

    private mutating func and() throws(ChatTemplateError) -> JinjaExpression {
        var left = try not()
        while accept(.name("and")) { left = .binary("and", left, try not()) }
        return left
    }

    private mutating func not() throws(ChatTemplateError) -> JinjaExpression {
        accept(.name("not")) ? .unary("not", try not()) : try comparison()
    }

    private mutating func comparison() throws(ChatTemplateError) -> JinjaExpression {
        var left = try concatenation()
        while true {
            if case .op(let op)? = peek(), ["==", "!=", "<", ">", "<=", ">="].contains(op) {
                position += 1
                left = .binary(op, left, try concatenation())
            } else if accept(.name("in")) {
                left = .binary("in", left, try concatenation())
            } else if peek() == .name("not") && peek(1) == .name("in") {
                position += 2
                left = .unary("not", .binary("in", left, try concatenation()))
            } else if accept(.name("is")) {
                let negated = accept(.name("not"))
                guard case .name(let test)? = next() else { throw ChatTemplateError("expected a test name after 'is'") }
                var arguments: [JinjaExpression] = []
                if accept(.op("(")) {
                    while !accept(.op(")")) { arguments.append(try expression()); _ = accept(.op(",")) }
                } else if let token = peek(), Self.startsPrimary(token) {
                    arguments.append(try postfix())
                }
                left = .test(left, test, arguments, negated: negated)
            } else {
                return left
            }
        }
    }

    private mutating func concatenation() throws(ChatTemplateError) -> JinjaExpression {
        var left = try additive()
        while accept(.op("~")) { left = .binary("~", left, try additive()) }
        return left
    }

    private mutating func additive() throws(ChatTemplateError) -> JinjaExpression {
        var left = try multiplicative()
        while case .op(let op)? = peek(), op == "+" || op == "-" {
            position += 1
            left = .binary(op, left, try multiplicative())
        }
        return left
    }

    private mutating func multiplicative() throws(ChatTemplateError) -> JinjaExpression {
        var left = try unary()
        while case .op(let op)? = peek(), ["*", "/", "//", "%"].contains(op) {
            position += 1
            left = .binary(op, left, try unary())
        }
        return left
    }

    private mutating func unary() throws(ChatTemplateError) -> JinjaExpression {
        if accept(.op("-")) { return .unary("-", try unary()) }
        if accept(.op("+")) { return try unary() }
        return try filtered()
    }

    private mutating func filtered() throws(ChatTemplateError) -> JinjaExpression {
        var value = try postfix()
        while accept(.op("|")) {
            guard case .name(let name)? = next() else { throw ChatTemplateError("expected a filter name after '|'") }
            var (arguments, keywords): ([JinjaExpression], [(String, JinjaExpression)]) = ([], [])
            if accept(.op("(")) { (arguments, keywords) = try callArguments() }
            value = .filter(value, name, arguments, keywords)
        }
        return value
    }

    mutating func postfix() throws(ChatTemplateError) -> JinjaExpression {
        var value = try primary()
        while true {
            if accept(.op(".")) {
                guard case .name(let name)? = next() else { throw ChatTemplateError("expected an attribute after '.'") }
                value = .attribute(value, name)
            } else if accept(.op("[")) {
                var start: JinjaExpression?
                if peek() != .op(":") { start = try expression() }
                if accept(.op(":")) {
                    let stop = peek() == .op(":") || peek() == .op("]") ? nil : try expression()
                    let step = accept(.op(":")) && peek() != .op("]") ? try expression() : nil
                    try expect(.op("]"))
                    value = .slice(value, start, stop, step)
                } else {
                    try expect(.op("]"))
                    guard let start else { throw ChatTemplateError("empty subscript") }
                    value = .index(value, start)
                }
            } else if accept(.op("(")) {
                let (arguments, keywords) = try callArguments()
                value = .call(value, arguments, keywords)
            } else {
                return value
            }
        }
    }

    private mutating func callArguments() throws(ChatTemplateError) -> ([JinjaExpression], [(String, JinjaExpression)]) {
        var arguments: [JinjaExpression] = [], keywords: [(String, JinjaExpression)] = []
        while !accept(.op(")")) {
            if case .name(let key)? = peek(), peek(1) == .op("=") {
                position += 2
                keywords.append((key, try expression()))
            } else {
                arguments.append(try expression())
            }
            if !accept(.op(",")) {
                try expect(.op(")"))
                break
            }
        }
        return (arguments, keywords)
    }

    private static func startsPrimary(_ token: JinjaParser.Token) -> Bool {
        switch token {
        case .string, .int, .double: return true
        case .name(let n): return !["and", "or", "not", "in", "is", "if", "else"].contains(n)
        case .op(let op): return op == "(" || op == "["
        }
    }

    private mutating func primary() throws(ChatTemplateError) -> JinjaExpression {
        guard let token = next() else { throw ChatTemplateError("expression ends early") }
        switch token {
        case .string(var s):
            while case .string(let more)? = peek() { s += more; position += 1 }  // adjacent literals join
            return .literal(.string(s))
        case .int(let i): return .literal(.int(i))
        case .double(let d): return .literal(.double(d))
        case .name(let name):
            switch name {
            case "true", "True": return .literal(.bool(true))
            case "false", "False": return .literal(.bool(false))
            case "none", "None": return .literal(.none)
            default: return .name(name)
            }
        case .op("("):
            let first = try expression()
            if accept(.op(")")) { return first }
            var items = [first]
            while accept(.op(",")) { if peek() == .op(")") { break }; items.append(try expression()) }
            try expect(.op(")"))
            return .list(items)  // tuples behave as lists in templates
        case .op("["):
            var items: [JinjaExpression] = []
            while !accept(.op("]")) {
                items.append(try expression())
                if !accept(.op(",")) { try expect(.op("]")); break }
            }
            return .list(items)
        case .op("{"):
            var pairs: [(JinjaExpression, JinjaExpression)] = []
            while !accept(.op("}")) {
                let key = try expression()
                try expect(.op(":"))
                pairs.append((key, try expression()))
                if !accept(.op(",")) { try expect(.op("}")); break }
            }
            return .dict(pairs)
        default:
            throw ChatTemplateError("unexpected \(token)")
        }
    }

    static func tokenize(_ source: String) throws(ChatTemplateError) -> [JinjaParser.Token] {
        var tokens: [JinjaParser.Token] = []
        let chars = Array(source)
        var i = 0
        while i < chars.count {
            let c = chars[i]
            if c.isWhitespace { i += 1; continue }
            if c.isLetter || c == "_" {
                var j = i
                while j < chars.count, chars[j].isLetter || chars[j].isNumber || chars[j] == "_" { j += 1 }
                tokens.append(.name(String(chars[i..<j])))
                i = j
            } else if c.isNumber {
                var j = i
                while j < chars.count, chars[j].isNumber { j += 1 }
                if j + 1 < chars.count, chars[j] == ".", chars[j + 1].isNumber {
                    j += 1
                    while j < chars.count, chars[j].isNumber { j += 1 }
                    tokens.append(.double(Double(String(chars[i..<j]))!))
                } else {
                    tokens.append(.int(Int(String(chars[i..<j]))!))
                }
                i = j
            } else if c == "'" || c == "\"" {
                var j = i + 1, value = ""
                while j < chars.count, chars[j] != c {
                    if chars[j] == "\\", j + 1 < chars.count {
                        j += 1
                        switch chars[j] {
                        case "n": value.append("\n")
                        case "t": value.append("\t")
                        case "r": value.append("\r")
                        default: value.append(chars[j])
                        }
                    } else {
                        value.append(chars[j])
                    }
                    j += 1
                }
                guard j < chars.count else { throw ChatTemplateError("unterminated string in tag") }
                tokens.append(.string(value))
                i = j + 1
            } else {
                let two = i + 1 < chars.count ? String(chars[i...i + 1]) : ""
                if ["==", "!=", "<=", ">=", "//", "**"].contains(two) {
                    tokens.append(.op(two))
                    i += 2
                } else if "+-*/%~|.,:()[]{}<>=".contains(c) {
                    tokens.append(.op(String(c)))
                    i += 1
                } else {
                    throw ChatTemplateError("unexpected character '\(c)' in tag")
                }
            }
        }
        return tokens
    }
}
