import Foundation

/// Reads the few elements Patchwork needs from S3's XML answers (ListObjectsV2 results and
/// error documents). Those documents are flat and machine-written, so a scanner for
/// `<Tag>text</Tag>` with entity decoding is enough; no XML library is pulled in for it.
enum S3XML {
    /// The text of every `<tag>...</tag>` in `xml`, in order, entities decoded.
    static func values(_ tag: String, in xml: Substring) -> [String] {
        elements(tag, in: xml).map { decodeEntities(String($0)) }
    }

    static func value(_ tag: String, in xml: Substring) -> String? { values(tag, in: xml).first }

    /// The raw contents of every `<tag>...</tag>` (for nested blocks such as `<Contents>`).
    static func elements(_ tag: String, in xml: Substring) -> [Substring] {
        var found: [Substring] = []
        var rest = xml[...]
        let open = "<\(tag)>", close = "</\(tag)>"
        while let start = rest.range(of: open) {
            guard let end = rest[start.upperBound...].range(of: close) else { break }
            found.append(rest[start.upperBound..<end.lowerBound])
            rest = rest[end.upperBound...]
        }
        return found
    }

    static func decodeEntities(_ text: String) -> String {
        guard text.contains("&") else { return text }
        var out = ""
        var index = text.startIndex
        while index < text.endIndex {
            if text[index] == "&", let semicolon = text[index...].firstIndex(of: ";"), text.distance(from: index, to: semicolon) <= 10 {
                let entity = text[text.index(after: index)..<semicolon]
                let decoded: String? = switch entity {
                case "amp": "&"
                case "lt": "<"
                case "gt": ">"
                case "quot": "\""
                case "apos": "'"
                default:
                    if entity.hasPrefix("#x"), let code = UInt32(entity.dropFirst(2), radix: 16), let scalar = Unicode.Scalar(code) { String(Character(scalar)) }
                    else if entity.hasPrefix("#"), let code = UInt32(entity.dropFirst()), let scalar = Unicode.Scalar(code) { String(Character(scalar)) }
                    else { nil }
                }
                if let decoded {
                    out += decoded
                    index = text.index(after: semicolon)
                    continue
                }
            }
            out.append(text[index])
            index = text.index(after: index)
        }
        return out
    }
}
