import PatchworkHTTP
import Testing

/// The event-stream rules of the WHATWG HTML standard (§ 9.2.6), fed in pieces that end anywhere.
struct ServerSentEventDecoderTests {
    /// The stream of the standard's examples, with each kind of line end and a comment.
    static let stream = Array(": comment\ndata: first\n\ndata:second\r\ndata:  two lines\r\n\r\nevent: named\rdata: third\r\rid: 1\n\ndata\n\n".utf8)
    static let events = ["first", "second\n two lines", "third", ""]

    @Test(arguments: [1, 2, 3, 7, 1000])
    func piecesOfAnySizeGiveTheSameEvents(pieceSize: Int) throws {
        var decoder = ServerSentEventDecoder()
        var events: [String] = []
        var start = 0
        while start < Self.stream.count {
            events += try decoder.feed(Self.stream[start..<min(start + pieceSize, Self.stream.count)])
            start += pieceSize
        }
        #expect(events == Self.events)
    }

    /// A multi-byte character split between pieces arrives whole.
    @Test func aCharacterSplitBetweenPiecesArrivesWhole() throws {
        var decoder = ServerSentEventDecoder()
        let bytes = Array("data: héllo 👋\n\n".utf8)
        let split = bytes.firstIndex(of: 0xF0)! + 2
        #expect(try decoder.feed(bytes[..<split]).isEmpty)
        #expect(try decoder.feed(bytes[split...]) == ["héllo 👋"])
    }

    @Test func aLineBeyondTheLimitIsRefused() {
        var decoder = ServerSentEventDecoder(maxLineBytes: 8)
        #expect(throws: ServerSentEventDecoder.DecodeError.lineTooLong(8)) { try decoder.feed(Array("data: 0123456789".utf8)) }
    }
}
