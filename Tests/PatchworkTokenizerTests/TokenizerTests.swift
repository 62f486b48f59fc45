import PatchworkTokenizer
import Testing

struct StreamingDecoderTests {
    @Test func neverSplitsACharacterAcrossChunks() {
        var decoder = StreamingDecoder()
        let bytes = Array("é🙂".utf8)  // 2 + 4 bytes
        var out = ""
        for byte in bytes {
            let piece = decoder.append([byte])
            #expect(!piece.contains("\u{FFFD}"))
            out += piece
        }
        #expect(out == "é🙂")
        #expect(decoder.finish() == "")
    }

    @Test func flushesInvalidBytesAtTheEnd() {
        var decoder = StreamingDecoder()
        #expect(decoder.append([0xf0, 0x9f]) == "")
        #expect(decoder.finish() == "\u{FFFD}")
    }
}
