/// GPT-2's byte-level alphabet: every byte maps to a printable character, so BPE works on text
/// while covering any bytes. Printable Latin-1 bytes map to themselves, the rest to U+0100 on.
enum ByteLevel {
    static let byteToCharacter: [Character] = {
        var table = [Character](repeating: " ", count: 256)
        var next: UInt32 = 256
        for byte in 0..<256 {
            let printable = (0x21...0x7e).contains(byte) || (0xa1...0xac).contains(byte) || (0xae...0xff).contains(byte)
            let scalar = printable ? UInt32(byte) : { defer { next += 1 }; return next }()
            table[byte] = Character(Unicode.Scalar(scalar)!)
        }
        return table
    }()

    static let characterToByte: [Character: UInt8] = {
        var map: [Character: UInt8] = [:]
        for (byte, character) in byteToCharacter.enumerated() { map[character] = UInt8(byte) }
        return map
    }()

    static func encode(_ text: Substring) -> String {
        String(text.utf8.map { byteToCharacter[Int($0)] })
    }

    /// The bytes of a token's text; characters outside the alphabet are taken as UTF-8.
    static func decode(_ token: String) -> [UInt8] {
        var bytes: [UInt8] = []
        for character in token {
            if let byte = characterToByte[character] { bytes.append(byte) } else { bytes += Array(String(character).utf8) }
        }
        return bytes
    }
}
