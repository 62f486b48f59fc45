import Foundation

/// A value inside a chat template, with Python's semantics for truth, equality and printing
/// (templates are written against Jinja2 running in Python).
indirect enum JinjaValue: Sendable {
    case undefined
    case none
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([JinjaValue])
    /// Keys keep their insertion order, as Python dicts do.
    case dict([(String, JinjaValue)])
    /// `namespace(...)`: the one mutable object templates use (`{% set ns.x = … %}`).
    case namespace(JinjaNamespace)
    case macro(JinjaMacro)

    var isTruthy: Bool {
        switch self {
        case .undefined, .none: return false
        case .bool(let b): return b
        case .int(let i): return i != 0
        case .double(let d): return d != 0
        case .string(let s): return !s.isEmpty
        case .array(let a): return !a.isEmpty
        case .dict(let d): return !d.isEmpty
        case .namespace, .macro: return true
        }
    }

    /// `str(value)` as Python prints it; `{{ }}` prints this.
    var text: String {
        switch self {
        case .undefined: return ""
        case .string(let s): return s
        default: return repr
        }
    }

    /// Python's `repr`, used inside lists and dicts.
    var repr: String {
        switch self {
        case .undefined: return ""
        case .none: return "None"
        case .bool(let b): return b ? "True" : "False"
        case .int(let i): return String(i)
        case .double(let d):
            if d == d.rounded() && abs(d) < 1e16 { return String(format: "%.1f", d) }
            return String(d)
        case .string(let s):
            let escaped = s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'").replacingOccurrences(of: "\n", with: "\\n")
            return "'\(escaped)'"
        case .array(let a): return "[" + a.map(\.repr).joined(separator: ", ") + "]"
        case .dict(let d): return "{" + d.map { "'\($0.0)': \($0.1.repr)" }.joined(separator: ", ") + "}"
        case .namespace: return "<Namespace>"
        case .macro: return "<Macro>"
        }
    }

    var typeName: String {
        switch self {
        case .undefined: return "undefined"
        case .none: return "none"
        case .bool: return "boolean"
        case .int, .double: return "number"
        case .string: return "string"
        case .array: return "list"
        case .dict, .namespace: return "mapping"
        case .macro: return "macro"
        }
    }

    subscript(key: String) -> JinjaValue {
        switch self {
        case .dict(let pairs): return pairs.last { $0.0 == key }?.1 ?? .undefined
        case .namespace(let ns): return ns.get(key)
        default: return .undefined
        }
    }

    /// The items a `for` loop or filter walks: list elements, dict keys, string characters.
    var items: [JinjaValue]? {
        switch self {
        case .array(let a): return a
        case .dict(let d): return d.map { .string($0.0) }
        case .string(let s): return s.map { .string(String($0)) }
        case .namespace(let ns): return ns.snapshot.map { .string($0.0) }
        default: return nil
        }
    }

    static func == (a: JinjaValue, b: JinjaValue) -> Bool {
        switch (a, b) {
        case (.undefined, .undefined), (.none, .none): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.int(x), .int(y)): return x == y
        case let (.double(x), .double(y)): return x == y
        case let (.int(x), .double(y)), let (.double(y), .int(x)): return Double(x) == y
        case let (.bool(x), .int(y)), let (.int(y), .bool(x)): return (x ? 1 : 0) == y
        case let (.string(x), .string(y)): return x == y
        case let (.array(x), .array(y)): return x.count == y.count && zip(x, y).allSatisfy { $0 == $1 }
        case let (.dict(x), .dict(y)):
            return x.count == y.count && x.allSatisfy { pair in y.contains { $0.0 == pair.0 && $0.1 == pair.1 } }
        default: return false
        }
    }

    /// A JSON value as a template value.
    static func fromJSON(_ object: Any?) -> JinjaValue {
        switch object {
        case nil, is NSNull: return .none
        case let n as NSNumber:
            // JSONSerialization gives booleans as NSNumbers of ObjC type "c" (char).
            if String(cString: n.objCType) == "c" { return .bool(n.boolValue) }
            return n.doubleValue == n.doubleValue.rounded() && !"\(n)".contains(".") ? .int(n.intValue) : .double(n.doubleValue)
        case let s as String: return .string(s)
        case let a as [Any]: return .array(a.map(fromJSON))
        case let d as [String: Any]: return .dict(d.keys.sorted().map { ($0, fromJSON(d[$0])) })
        default: return .undefined
        }
    }

    /// `tojson`: JSON text as Python's `json.dumps` writes it (", " and ": " separators).
    func json(indent: Int?, level: Int = 0) -> String {
        let pad = indent.map { String(repeating: " ", count: $0 * (level + 1)) }
        let closePad = indent.map { String(repeating: " ", count: $0 * level) }
        switch self {
        case .undefined, .none, .macro: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .int(let i): return String(i)
        case .double: return repr
        case .string(let s): return Self.jsonString(s)
        case .array(let a):
            if a.isEmpty { return "[]" }
            if let pad, let closePad { return "[\n" + a.map { pad + $0.json(indent: indent, level: level + 1) }.joined(separator: ",\n") + "\n" + closePad + "]" }
            return "[" + a.map { $0.json(indent: nil) }.joined(separator: ", ") + "]"
        case .dict(let d):
            if d.isEmpty { return "{}" }
            if let pad, let closePad {
                return "{\n" + d.map { pad + Self.jsonString($0.0) + ": " + $0.1.json(indent: indent, level: level + 1) }.joined(separator: ",\n") + "\n" + closePad + "}"
            }
            return "{" + d.map { Self.jsonString($0.0) + ": " + $0.1.json(indent: nil) }.joined(separator: ", ") + "}"
        case .namespace(let ns): return JinjaValue.dict(ns.snapshot).json(indent: indent, level: level)
        }
    }

    /// Python's `json.dumps` escaping (ensure_ascii off, as transformers sets it).
    static func jsonString(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0c}": out += "\\f"
            default:
                if scalar.value < 0x20 { out += String(format: "\\u%04x", scalar.value) } else { out.unicodeScalars.append(scalar) }
            }
        }
        return out + "\""
    }
}

/// The state of a `namespace()`; a reference, so `{% set ns.x = … %}` inside a loop is seen after it.
final class JinjaNamespace: @unchecked Sendable {
    // @unchecked Sendable: a namespace lives inside one render call, on one thread.
    private var values: [(String, JinjaValue)]
    init(_ values: [(String, JinjaValue)]) { self.values = values }
    func get(_ key: String) -> JinjaValue { values.last { $0.0 == key }?.1 ?? .undefined }
    func set(_ key: String, _ value: JinjaValue) {
        if let i = values.firstIndex(where: { $0.0 == key }) { values[i].1 = value } else { values.append((key, value)) }
    }
    var snapshot: [(String, JinjaValue)] { values }
}

/// A `{% macro %}` definition.
struct JinjaMacro: Sendable {
    var name: String
    var parameters: [(String, JinjaExpression?)]
    var body: [JinjaNode]
}
