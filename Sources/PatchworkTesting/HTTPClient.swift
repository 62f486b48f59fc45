import Foundation

/// A minimal HTTP/1.1 client over a blocking loopback socket, for tests: one request per
/// connection, `Connection: close`, the whole body read. It avoids any client library, so what
/// the servers answer is seen byte for byte.
public enum HTTPClient {
    public struct Response: Sendable {
        public var status: Int
        public var headers: [String: String]
        public var body: Data

        /// The body parsed as a JSON object.
        public func json() throws -> [String: Any] {
            guard let object = try JSONSerialization.jsonObject(with: body) as? [String: Any] else {
                throw TestFailure("body is not a JSON object: \(text)")
            }
            return object
        }

        public var text: String { String(decoding: body, as: UTF8.self) }
    }

    /// Sends a request to `127.0.0.1:port`.
    public static func request(
        _ method: String, port: Int, path: String, body: Data? = nil, contentType: String = "application/json",
        headers: [String: String] = [:], timeout: Double = 30
    ) async throws -> Response {
        try await withCheckedThrowingContinuation { continuation in
            Thread {
                continuation.resume(with: Result { try send(method, port: port, path: path, body: body, contentType: contentType, headers: headers, timeout: timeout) })
            }.start()
        }
    }

    public static func get(port: Int, path: String) async throws -> Response {
        try await request("GET", port: port, path: path)
    }

    public static func post(port: Int, path: String, json: Any) async throws -> Response {
        try await request("POST", port: port, path: path, body: try JSONSerialization.data(withJSONObject: json))
    }

    public static func delete(port: Int, path: String) async throws -> Response {
        try await request("DELETE", port: port, path: path)
    }

    private static func send(
        _ method: String, port: Int, path: String, body: Data?, contentType: String, headers: [String: String], timeout: Double
    ) throws -> Response {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket() failed") }
        defer { close(fd) }
        // One deadline for the whole exchange: a server that trickles bytes cannot stretch it.
        let deadline = Date().addingTimeInterval(timeout)
        func armTimeout() throws {
            let left = deadline.timeIntervalSinceNow
            guard left > 0 else { throw TestFailure("no complete answer from 127.0.0.1:\(port)\(path) within \(timeout) s") }
            var tv = timeval(tv_sec: Int(left), tv_usec: suseconds_t((left - left.rounded(.down)) * 1_000_000))
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        }
        try armTimeout()
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
        guard connected else { throw TestFailure("cannot connect to 127.0.0.1:\(port)") }
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
        if let body { head += "Content-Type: \(contentType)\r\nContent-Length: \(body.count)\r\n" }
        for (name, value) in headers.sorted(by: { $0.key < $1.key }) { head += "\(name): \(value)\r\n" }
        head += "\r\n"
        var request = Data(head.utf8)
        if let body { request.append(body) }
        try request.withUnsafeBytes { raw in
            var sent = 0
            while sent < raw.count {
                let n = Foundation.send(fd, raw.baseAddress! + sent, raw.count - sent, Int32(MSG_NOSIGNAL))
                guard n > 0 else { throw TestFailure("send failed") }
                sent += n
            }
        }
        var response = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            try armTimeout()
            let n = recv(fd, &buffer, buffer.count, 0)
            if n < 0 { throw TestFailure("no complete answer from 127.0.0.1:\(port)\(path) within \(timeout) s (recv: errno \(errno))") }
            if n == 0 { break }
            response.append(contentsOf: buffer[0..<n])
        }
        return try parse(response)
    }

    private static func parse(_ data: Data) throws -> Response {
        guard let split = data.range(of: Data("\r\n\r\n".utf8)) else { throw TestFailure("no HTTP header in response") }
        let head = String(decoding: data[..<split.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
        guard let statusLine = head.first, let status = Int(statusLine.split(separator: " ").dropFirst().first ?? "") else {
            throw TestFailure("bad status line")
        }
        var headers: [String: String] = [:]
        for line in head.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        var body = Data(data[split.upperBound...])
        if headers["transfer-encoding"]?.lowercased() == "chunked" { body = try dechunk(body) }
        return Response(status: status, headers: headers, body: body)
    }

    private static func dechunk(_ data: Data) throws -> Data {
        var out = Data()
        var index = data.startIndex
        while index < data.endIndex {
            guard let lineEnd = data[index...].range(of: Data("\r\n".utf8)) else { throw TestFailure("bad chunk") }
            let sizeText = String(decoding: data[index..<lineEnd.lowerBound], as: UTF8.self).split(separator: ";").first ?? ""
            guard let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16) else { throw TestFailure("bad chunk size") }
            if size == 0 { break }
            let start = lineEnd.upperBound
            guard data.distance(from: start, to: data.endIndex) >= size else { throw TestFailure("short chunk") }
            out.append(data[start..<data.index(start, offsetBy: size)])
            index = data.index(start, offsetBy: size + 2)
        }
        return out
    }
}
