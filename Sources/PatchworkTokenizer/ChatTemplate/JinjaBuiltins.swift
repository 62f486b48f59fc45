import Foundation

/// The filters, tests, methods, globals and operators real chat templates use.
enum JinjaBuiltins {
    static func argument(_ args: [JinjaValue], _ kwargs: [(String, JinjaValue)], _ index: Int, _ name: String) -> JinjaValue? {
        if index < args.count { return args[index] }
        return kwargs.first { $0.0 == name }?.1
    }

    static func global(_ name: String, _ args: [JinjaValue], _ kwargs: [(String, JinjaValue)]) throws(ChatTemplateError) -> JinjaValue {
        switch name {
        case "raise_exception":
            throw ChatTemplateError("template raised: \(args.first?.text ?? "")")
        case "namespace":
            var values: [(String, JinjaValue)] = kwargs
            if case .dict(let initial)? = args.first { values = initial + values }
            return .namespace(JinjaNamespace(values))
        case "range":
            let ints = args.compactMap { if case .int(let i) = $0 { return i } else { return nil } }
            guard ints.count == args.count, (1...3).contains(ints.count) else { throw ChatTemplateError("range takes 1 to 3 integers") }
            let (start, stop, step) = ints.count == 1 ? (0, ints[0], 1) : (ints[0], ints[1], ints.count == 3 ? ints[2] : 1)
            guard step != 0 else { throw ChatTemplateError("range step is 0") }
            return .array(Array(stride(from: start, to: stop, by: step)).map { .int($0) })
        case "strftime_now":
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.dateFormat = strftimeToDateFormat(args.first?.text ?? "%Y-%m-%d")
            return .string(formatter.string(from: Date()))
        case "dict":
            return .dict(kwargs)
        default:
            throw ChatTemplateError("'\(name)' is undefined")
        }
    }

    /// The few strftime codes templates use.
    static func strftimeToDateFormat(_ format: String) -> String {
        let map = ["%d": "dd", "%b": "MMM", "%B": "MMMM", "%Y": "yyyy", "%m": "MM", "%y": "yy", "%H": "HH", "%M": "mm", "%S": "ss", "%A": "EEEE", "%a": "EEE"]
        var result = format
        for (code, pattern) in map { result = result.replacingOccurrences(of: code, with: pattern) }
        return result
    }

    static func method(_ object: JinjaValue, _ name: String, _ args: [JinjaValue], _ kwargs: [(String, JinjaValue)]) throws(ChatTemplateError) -> JinjaValue {
        switch (object, name) {
        case (.string(let s), "strip"): return .string(strip(s, args.first?.text, leading: true, trailing: true))
        case (.string(let s), "lstrip"): return .string(strip(s, args.first?.text, leading: true, trailing: false))
        case (.string(let s), "rstrip"): return .string(strip(s, args.first?.text, leading: false, trailing: true))
        case (.string(let s), "upper"): return .string(s.uppercased())
        case (.string(let s), "lower"): return .string(s.lowercased())
        case (.string(let s), "title"): return .string(s.capitalized)
        case (.string(let s), "capitalize"): return .string(s.prefix(1).uppercased() + s.dropFirst().lowercased())
        case (.string(let s), "startswith"):
            if case .array(let options)? = args.first { return .bool(options.contains { s.hasPrefix($0.text) }) }
            return .bool(s.hasPrefix(args.first?.text ?? ""))
        case (.string(let s), "endswith"):
            if case .array(let options)? = args.first { return .bool(options.contains { s.hasSuffix($0.text) }) }
            return .bool(s.hasSuffix(args.first?.text ?? ""))
        case (.string(let s), "split"):
            if let separator = args.first?.text, !separator.isEmpty {
                let limit: Int? = if case .int(let n)? = args.dropFirst().first { n } else { nil }
                var parts = s.components(separatedBy: separator)
                if let limit, limit >= 0, parts.count > limit + 1 {
                    parts = Array(parts.prefix(limit)) + [parts.dropFirst(limit).joined(separator: separator)]
                }
                return .array(parts.map { .string($0) })
            }
            return .array(s.split(whereSeparator: \.isWhitespace).map { .string(String($0)) })
        case (.string(let s), "replace"):
            guard args.count >= 2 else { throw ChatTemplateError("replace takes two arguments") }
            return .string(s.replacingOccurrences(of: args[0].text, with: args[1].text))
        case (.string(let s), "find"): return .int(s.range(of: args.first?.text ?? "").map { s.distance(from: s.startIndex, to: $0.lowerBound) } ?? -1)
        case (.string(let s), "count"): return .int(s.components(separatedBy: args.first?.text ?? "").count - 1)
        case (.string(let s), "join"): return .string((args.first?.items ?? []).map(\.text).joined(separator: s))
        case (.dict(let pairs), "items"): return .array(pairs.map { .array([.string($0.0), $0.1]) })
        case (.dict(let pairs), "keys"): return .array(pairs.map { .string($0.0) })
        case (.dict(let pairs), "values"): return .array(pairs.map(\.1))
        case (.dict, "get"):
            let value = object[args.first?.text ?? ""]
            if case .undefined = value { return args.count > 1 ? args[1] : .none }
            return value
        case (.namespace(let ns), "get"): return ns.get(args.first?.text ?? "")
        default:
            throw ChatTemplateError("\(object.typeName) has no method '\(name)'")
        }
    }

    static func strip(_ s: String, _ characters: String?, leading: Bool, trailing: Bool) -> String {
        let set = characters.map { CharacterSet(charactersIn: $0) } ?? .whitespacesAndNewlines
        var scalars = Substring(s).unicodeScalars[...]
        if leading { while let f = scalars.first, set.contains(f) { scalars = scalars.dropFirst() } }
        if trailing { while let l = scalars.last, set.contains(l) { scalars = scalars.dropLast() } }
        return String(String.UnicodeScalarView(scalars))
    }

    static func filter(_ name: String, _ value: JinjaValue, _ args: [JinjaValue], _ kwargs: [(String, JinjaValue)]) throws(ChatTemplateError) -> JinjaValue {
        switch name {
        case "trim": return .string(strip(value.text, args.first?.text, leading: true, trailing: true))
        case "upper": return .string(value.text.uppercased())
        case "lower": return .string(value.text.lowercased())
        case "title": return .string(value.text.capitalized)
        case "capitalize": return .string(value.text.prefix(1).uppercased() + value.text.dropFirst().lowercased())
        case "string": return .string(value.text)
        case "safe": return value
        case "length", "count":
            switch value {
            case .string(let s): return .int(s.count)
            case .array(let a): return .int(a.count)
            case .dict(let d): return .int(d.count)
            default: return .int(0)
            }
        case "first": return value.items?.first ?? .undefined
        case "last": return value.items?.last ?? .undefined
        case "list": return .array(value.items ?? [])
        case "reverse":
            if case .string(let s) = value { return .string(String(s.reversed())) }
            return .array((value.items ?? []).reversed())
        case "join":
            let separator = argument(args, kwargs, 0, "d")?.text ?? ""
            if let attribute = argument(args, kwargs, 1, "attribute")?.text {
                return .string((value.items ?? []).map { $0[attribute].text }.joined(separator: separator))
            }
            return .string((value.items ?? []).map(\.text).joined(separator: separator))
        case "default", "d":
            let fallback = argument(args, kwargs, 0, "default_value") ?? .string("")
            let boolean = argument(args, kwargs, 1, "boolean")?.isTruthy ?? false
            if case .undefined = value { return fallback }
            if boolean && !value.isTruthy { return fallback }
            return value
        case "items":
            if case .dict(let pairs) = value { return .array(pairs.map { .array([.string($0.0), $0.1]) }) }
            return .array([])
        case "tojson":
            let indent: Int? = if case .int(let n)? = argument(args, kwargs, 0, "indent") { n } else { nil }
            return .string(value.json(indent: indent))
        case "int":
            switch value {
            case .int: return value
            case .double(let d): return .int(Int(d))
            case .string(let s): return .int(Int(s.trimmingCharacters(in: .whitespaces)) ?? 0)
            case .bool(let b): return .int(b ? 1 : 0)
            default: return .int(0)
            }
        case "float":
            switch value {
            case .int(let i): return .double(Double(i))
            case .double: return value
            case .string(let s): return .double(Double(s) ?? 0)
            default: return .double(0)
            }
        case "abs":
            if case .int(let i) = value { return .int(abs(i)) }
            if case .double(let d) = value { return .double(abs(d)) }
            return value
        case "replace":
            guard args.count >= 2 else { throw ChatTemplateError("replace takes two arguments") }
            return .string(value.text.replacingOccurrences(of: args[0].text, with: args[1].text))
        case "indent":
            let width: Int = if case .int(let n)? = argument(args, kwargs, 0, "width") { n } else { 4 }
            let first = argument(args, kwargs, 1, "first")?.isTruthy ?? false
            let pad = String(repeating: " ", count: width)
            let lines = value.text.components(separatedBy: "\n")
            return .string(lines.enumerated().map { i, line in (i == 0 && !first) || line.isEmpty ? line : pad + line }.joined(separator: "\n"))
        case "map":
            if let attribute = kwargs.first(where: { $0.0 == "attribute" })?.1.text {
                return .array((value.items ?? []).map { $0[attribute] })
            }
            guard let filterName = args.first?.text else { throw ChatTemplateError("map needs a filter or attribute=") }
            var mapped: [JinjaValue] = []
            for item in value.items ?? [] { mapped.append(try filter(filterName, item, Array(args.dropFirst()), [])) }
            return .array(mapped)
        case "selectattr", "rejectattr":
            guard let attribute = args.first?.text else { throw ChatTemplateError("\(name) needs an attribute") }
            let keep = name == "selectattr"
            var result: [JinjaValue] = []
            for item in value.items ?? [] {
                let field = item[attribute]
                let passes = args.count > 1 ? try test(args[1].text, field, Array(args.dropFirst(2))) : field.isTruthy
                if passes == keep { result.append(item) }
            }
            return .array(result)
        case "select", "reject":
            let keep = name == "select"
            var result: [JinjaValue] = []
            for item in value.items ?? [] {
                let passes = args.isEmpty ? item.isTruthy : try test(args[0].text, item, Array(args.dropFirst()))
                if passes == keep { result.append(item) }
            }
            return .array(result)
        case "unique":
            var seen: [JinjaValue] = []
            for item in value.items ?? [] where !seen.contains(where: { $0 == item }) { seen.append(item) }
            return .array(seen)
        case "dictsort":
            if case .dict(let pairs) = value { return .array(pairs.sorted { $0.0 < $1.0 }.map { .array([.string($0.0), $0.1]) }) }
            return .array([])
        case "round":
            let digits: Int = if case .int(let n)? = args.first { n } else { 0 }
            let scale = pow(10, Double(digits))
            if case .double(let d) = value { return .double((d * scale).rounded() / scale) }
            return value
        default:
            throw ChatTemplateError("unknown filter '\(name)'")
        }
    }

    static func test(_ name: String, _ value: JinjaValue, _ args: [JinjaValue]) throws(ChatTemplateError) -> Bool {
        switch name {
        case "defined": if case .undefined = value { return false } else { return true }
        case "undefined": if case .undefined = value { return true } else { return false }
        case "none": if case .none = value { return true } else { return false }
        case "string": if case .string = value { return true } else { return false }
        case "number": switch value { case .int, .double: return true; default: return false }
        case "integer": if case .int = value { return true } else { return false }
        case "float": if case .double = value { return true } else { return false }
        case "boolean": if case .bool = value { return true } else { return false }
        case "true": return value == .bool(true)
        case "false": return value == .bool(false)
        case "mapping": switch value { case .dict, .namespace: return true; default: return false }
        case "iterable": return value.items != nil
        case "sequence": switch value { case .array, .string: return true; default: return false }
        case "callable": if case .macro = value { return true } else { return false }
        case "equalto", "eq", "sameas", "==": return value == (args.first ?? .undefined)
        case "ne", "!=": return !(value == (args.first ?? .undefined))
        case "in": return try binary("in", value, args.first ?? .undefined).isTruthy
        case "odd": if case .int(let i) = value { return i % 2 != 0 } else { return false }
        case "even": if case .int(let i) = value { return i % 2 == 0 } else { return false }
        case "lower": return value.text == value.text.lowercased()
        case "upper": return value.text == value.text.uppercased()
        default: throw ChatTemplateError("unknown test '\(name)'")
        }
    }

    static func binary(_ op: String, _ a: JinjaValue, _ b: JinjaValue) throws(ChatTemplateError) -> JinjaValue {
        switch op {
        case "==": return .bool(a == b)
        case "!=": return .bool(!(a == b))
        case "~": return .string(a.text + b.text)
        case "in":
            switch b {
            case .string(let s): return .bool(s.contains(a.text))
            case .array(let items): return .bool(items.contains { $0 == a })
            case .dict(let pairs): return .bool(pairs.contains { $0.0 == a.text })
            case .namespace(let ns): return .bool(ns.snapshot.contains { $0.0 == a.text })
            case .undefined, .none: return .bool(false)
            default: throw ChatTemplateError("'in' needs a string, list or mapping, not \(b.typeName)")
            }
        case "+":
            switch (a, b) {
            case let (.string(x), .string(y)): return .string(x + y)
            case let (.array(x), .array(y)): return .array(x + y)
            default: break
            }
        default: break
        }
        // Arithmetic and ordering: ints stay ints where Python keeps them.
        switch (a, b) {
        case let (.int(x), .int(y)):
            switch op {
            case "+": return .int(x + y)
            case "-": return .int(x - y)
            case "*": return .int(x * y)
            case "//": guard y != 0 else { throw ChatTemplateError("division by zero") }; return .int(Int((Double(x) / Double(y)).rounded(.down)))
            case "%": guard y != 0 else { throw ChatTemplateError("modulo by zero") }; return .int(((x % y) + y) % y)
            case "/": guard y != 0 else { throw ChatTemplateError("division by zero") }; return .double(Double(x) / Double(y))
            default: break
            }
        case let (.string(x), .string(y)):
            switch op {
            case "<": return .bool(x < y)
            case ">": return .bool(x > y)
            case "<=": return .bool(x <= y)
            case ">=": return .bool(x >= y)
            default: break
            }
        case (.string(let s), .int(let n)) where op == "*": return .string(String(repeating: s, count: max(0, n)))
        default: break
        }
        guard let x = number(a), let y = number(b) else { throw ChatTemplateError("unsupported operands for \(op): \(a.typeName) and \(b.typeName)") }
        switch op {
        case "+": return .double(x + y)
        case "-": return .double(x - y)
        case "*": return .double(x * y)
        case "/": return .double(x / y)
        case "//": return .double((x / y).rounded(.down))
        case "%": return .double(x.truncatingRemainder(dividingBy: y))
        case "<": return .bool(x < y)
        case ">": return .bool(x > y)
        case "<=": return .bool(x <= y)
        case ">=": return .bool(x >= y)
        default: throw ChatTemplateError("unknown operator \(op)")
        }
    }

    static func number(_ value: JinjaValue) -> Double? {
        switch value {
        case .int(let i): return Double(i)
        case .double(let d): return d
        case .bool(let b): return b ? 1 : 0
        default: return nil
        }
    }

    static func slice(_ value: JinjaValue, start: JinjaValue?, stop: JinjaValue?, step: JinjaValue?) throws(ChatTemplateError) -> JinjaValue {
        let items: [JinjaValue]
        let isString: Bool
        if case .string(let s) = value { items = s.map { .string(String($0)) }; isString = true } else { items = value.items ?? []; isString = false }
        func int(_ v: JinjaValue?) -> Int? { if case .int(let i)? = v { return i } else { return nil } }
        let n = items.count
        let stepValue = int(step) ?? 1
        guard stepValue != 0 else { throw ChatTemplateError("slice step is 0") }
        func clamp(_ i: Int?, _ fallback: Int) -> Int {
            guard var i else { return fallback }
            if i < 0 { i += n }
            return stepValue > 0 ? min(max(i, 0), n) : min(max(i, -1), n - 1)
        }
        var result: [JinjaValue] = []
        if stepValue > 0 {
            var i = clamp(int(start), 0)
            let end = clamp(int(stop), n)
            while i < end { result.append(items[i]); i += stepValue }
        } else {
            var i = clamp(int(start), n - 1)
            let end = clamp(int(stop), -1)
            while i > end { result.append(items[i]); i += stepValue }
        }
        return isString ? .string(result.map(\.text).joined()) : .array(result)
    }
}
