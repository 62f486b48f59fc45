/// Splits a `text/event-stream` body, fed in pieces as they arrive, into its events' data
/// (the WHATWG rules: lines end in LF, CR LF or CR; `data:` lines join with LF; a blank line
/// ends an event; comments and other fields are skipped). A piece may end anywhere, even
/// inside a line or a UTF-8 sequence.
public struct ServerSentEventDecoder: Sendable {
    private var line: [UInt8] = []
    private var data: [UInt8] = []
    private var hasData = false
    /// The previous piece ended in CR: an LF that starts this one belongs to that line end.
    private var afterCR = false
    /// Longest line kept; a peer that sends more without a line end is cut off.
    public let maxLineBytes: Int

    public init(maxLineBytes: Int = 16 << 20) { self.maxLineBytes = maxLineBytes }

    public enum DecodeError: Error, Equatable { case lineTooLong(Int) }

    /// The data of every event that `bytes` completes, in order.
    public mutating func feed(_ bytes: some Sequence<UInt8>) throws(DecodeError) -> [String] {
        var events: [String] = []
        for byte in bytes {
            if afterCR {
                afterCR = false
                if byte == 0x0A { continue }
            }
            if byte == 0x0A || byte == 0x0D {
                afterCR = byte == 0x0D
                if let event = endLine() { events.append(event) }
                continue
            }
            guard line.count < maxLineBytes else { throw .lineTooLong(maxLineBytes) }
            line.append(byte)
        }
        return events
    }

    private mutating func endLine() -> String? {
        defer { line.removeAll(keepingCapacity: true) }
        if line.isEmpty {
            guard hasData else { return nil }
            let event = String(decoding: data, as: UTF8.self)
            data.removeAll(keepingCapacity: true)
            hasData = false
            return event
        }
        let colon = line.firstIndex(of: 0x3A) ?? line.count
        guard colon > 0, line[..<colon].elementsEqual("data".utf8) else { return nil }
        var value = line[min(colon + 1, line.count)...]
        if value.first == 0x20 { value = value.dropFirst() }
        if hasData { data.append(0x0A) }
        data.append(contentsOf: value)
        hasData = true
        return nil
    }
}
