import CCurl
import Foundation

/// One HTTP request over libcurl, blocking the calling thread (use ``BlockingThread``).
///
/// The body of a successful response goes to memory or to a file; the body of an error response
/// (status ≥ 400) always goes to memory, so the caller can read the server's explanation.
public struct HTTPRequest: Sendable {
    public var method = "GET"
    /// Absolute, already percent-encoded.
    public var url: String
    public var headers: [(name: String, value: String)] = []
    public var body: Data?
    public var followRedirects = false
    /// A PEM file of certificate authorities to trust instead of the system's (a cluster's CA).
    public var caFile: String?
    /// Refuses to connect to link-local and cloud-metadata addresses, also after a redirect or a
    /// DNS answer that leads there (adapter downloads: SSRF).
    public var refusesLinkLocal = false

    public init(method: String = "GET", url: String, headers: [(name: String, value: String)] = [], body: Data? = nil, followRedirects: Bool = false, caFile: String? = nil) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.followRedirects = followRedirects
        self.caFile = caFile
    }
}

public struct HTTPResponse: Sendable {
    public var status: Int
    /// Headers of the final response, names lowercased (the last value wins).
    public var headers: [String: String]
    /// The body when the destination was memory, or the error body.
    public var body: Data
    /// Bytes written to the destination file.
    public var bytesWritten: Int64

    public init(status: Int, headers: [String: String], body: Data, bytesWritten: Int64) {
        self.status = status
        self.headers = headers
        self.body = body
        self.bytesWritten = bytesWritten
    }
}

/// How a transfer may fail before an HTTP status is known.
public struct TransferError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable { case transport, timeout, tooLarge, aborted, localFile, refused }
    public var kind: Kind
    public var message: String
    public var description: String { message }

    public init(kind: Kind, message: String) {
        self.kind = kind
        self.message = message
    }
}

public enum HTTPDestination: Sendable {
    case memory
    case file(URL)
    /// A successful response's body, piece by piece as it arrives (a stream of server-sent
    /// events); returning false aborts the transfer. Not kept in memory.
    case stream(@Sendable (UnsafeRawBufferPointer) -> Bool)
}

public struct TransferLimits: Sendable {
    /// Seconds to establish a connection.
    public var connectTimeout: Double = 10
    /// Seconds for the whole request (0: none).
    public var requestTimeout: Double = 0
    /// A transfer slower than 1 KiB/s for this many seconds is abandoned (a stalled peer).
    public var stallTimeout: Double = 30
    /// Largest body accepted.
    public var maxBodyBytes: Int64 = .max

    public init(connectTimeout: Double = 10, requestTimeout: Double = 0, stallTimeout: Double = 30, maxBodyBytes: Int64 = .max) {
        self.connectTimeout = connectTimeout
        self.requestTimeout = requestTimeout
        self.stallTimeout = stallTimeout
        self.maxBodyBytes = maxBodyBytes
    }
}

public enum HTTPTransfer {
    private static let globalInit: Void = { _ = curl_global_init(Int(CURL_GLOBAL_SSL | CURL_GLOBAL_WIN32)) }()

    /// Performs `request`. `progress(done, total)` is called as bytes arrive (total 0 when not
    /// known); returning false aborts the transfer.
    public static func perform(
        _ request: HTTPRequest, to destination: HTTPDestination, limits: TransferLimits,
        progress: ((Int64, Int64) -> Bool)? = nil
    ) throws(TransferError) -> HTTPResponse {
        _ = globalInit
        guard let curl = curl_easy_init() else { throw TransferError(kind: .transport, message: "cannot create a libcurl handle") }
        defer { curl_easy_cleanup(curl) }

        let sink = TransferSink(curl: curl, limit: limits.maxBodyBytes, progress: progress)
        if case .stream(let consume) = destination { sink.consume = consume }
        if case .file(let url) = destination {
            let fd = open(url.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw TransferError(kind: .localFile, message: "cannot create \(url.path): \(String(cString: strerror(errno)))") }
            sink.fileDescriptor = fd
        }
        defer { if sink.fileDescriptor >= 0 { close(sink.fileDescriptor) } }

        var headerList: UnsafeMutablePointer<curl_slist>?
        for header in request.headers { headerList = curl_slist_append(headerList, "\(header.name): \(header.value)") }
        // libcurl would otherwise send "Expect: 100-continue" and an Accept header of its own.
        headerList = curl_slist_append(headerList, "Accept:")
        defer { curl_slist_free_all(headerList) }

        var errorBuffer = [CChar](repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        let context = Unmanaged.passUnretained(sink).toOpaque()
        let code: CURLcode = errorBuffer.withUnsafeMutableBufferPointer { errorPointer in
            _ = pw_curl_set_string(curl, CURLOPT_URL, request.url)
            _ = pw_curl_set_string(curl, CURLOPT_CUSTOMREQUEST, request.method)
            if request.method == "HEAD" { _ = pw_curl_set_long(curl, CURLOPT_NOBODY, 1) }
            _ = pw_curl_set_list(curl, CURLOPT_HTTPHEADER, headerList)
            if let body = request.body {
                _ = pw_curl_set_offset(curl, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.count))
                // COPYPOSTFIELDS copies the bytes: they need not outlive this call.
                if body.isEmpty {
                    _ = pw_curl_set_string(curl, CURLOPT_COPYPOSTFIELDS, "")
                } else {
                    body.withUnsafeBytes { _ = pw_curl_set_pointer(curl, CURLOPT_COPYPOSTFIELDS, UnsafeMutableRawPointer(mutating: $0.baseAddress)) }
                }
                _ = pw_curl_set_string(curl, CURLOPT_CUSTOMREQUEST, request.method)
            }
            if let caFile = request.caFile { _ = pw_curl_set_string(curl, CURLOPT_CAINFO, caFile) }
            if request.refusesLinkLocal { _ = pw_curl_refuse_link_local(curl, sink.refusal) }
            _ = pw_curl_set_string(curl, CURLOPT_USERAGENT, "patchwork-worker")
            _ = pw_curl_set_long(curl, CURLOPT_NOSIGNAL, 1)
            _ = pw_curl_set_string(curl, CURLOPT_PROTOCOLS_STR, "http,https")
            _ = pw_curl_set_string(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https")
            // Redirects keep the method; credentials are not forwarded to another host (libcurl's default).
            _ = pw_curl_set_long(curl, CURLOPT_FOLLOWLOCATION, request.followRedirects ? 1 : 0)
            _ = pw_curl_set_long(curl, CURLOPT_MAXREDIRS, 10)
            _ = pw_curl_set_long(curl, CURLOPT_CONNECTTIMEOUT_MS, Int(limits.connectTimeout * 1000))
            if limits.requestTimeout > 0 { _ = pw_curl_set_long(curl, CURLOPT_TIMEOUT_MS, max(1, Int(limits.requestTimeout * 1000))) }
            _ = pw_curl_set_long(curl, CURLOPT_LOW_SPEED_LIMIT, 1024)
            _ = pw_curl_set_long(curl, CURLOPT_LOW_SPEED_TIME, max(1, Int(limits.stallTimeout)))
            _ = pw_curl_set_pointer(curl, CURLOPT_ERRORBUFFER, errorPointer.baseAddress)
            _ = pw_curl_set_data_callback(curl, CURLOPT_WRITEFUNCTION, { data, size, count, context in
                Unmanaged<TransferSink>.fromOpaque(context!).takeUnretainedValue().write(data!, size * count)
            })
            _ = pw_curl_set_pointer(curl, CURLOPT_WRITEDATA, context)
            _ = pw_curl_set_data_callback(curl, CURLOPT_HEADERFUNCTION, { data, size, count, context in
                Unmanaged<TransferSink>.fromOpaque(context!).takeUnretainedValue().header(data!, size * count)
            })
            _ = pw_curl_set_pointer(curl, CURLOPT_HEADERDATA, context)
            _ = pw_curl_set_long(curl, CURLOPT_NOPROGRESS, 0)
            _ = pw_curl_set_progress_callback(curl, { context, total, done, _, _ in
                Unmanaged<TransferSink>.fromOpaque(context!).takeUnretainedValue().report(done: Int64(done), total: Int64(total)) ? 0 : 1
            })
            _ = pw_curl_set_pointer(curl, CURLOPT_XFERINFODATA, context)
            return curl_easy_perform(curl)
        }

        if let failure = sink.failure { throw failure }
        if sink.refusal.pointee != 0 {
            let host = URLComponents(string: request.url)?.host ?? request.url
            throw TransferError(kind: .refused, message: "\(host) (or a redirect from it) resolves to a link-local or cloud-metadata address; downloads never go there")
        }
        guard code == CURLE_OK else {
            let buffered = errorBuffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            let detail = buffered.isEmpty ? String(cString: curl_easy_strerror(code)) : buffered
            let kind: TransferError.Kind = switch code {
            case CURLE_OPERATION_TIMEDOUT: .timeout
            case CURLE_ABORTED_BY_CALLBACK: .aborted
            default: .transport
            }
            throw TransferError(kind: kind, message: detail)
        }
        var status = 0
        _ = pw_curl_get_long(curl, CURLINFO_RESPONSE_CODE, &status)
        return HTTPResponse(status: status, headers: sink.headers, body: sink.memory, bytesWritten: sink.written)
    }
}

/// Where libcurl's callbacks deliver; used by one transfer on one thread.
private final class TransferSink {
    let curl: UnsafeMutableRawPointer
    let limit: Int64
    let progress: ((Int64, Int64) -> Bool)?
    var fileDescriptor: Int32 = -1
    var consume: (@Sendable (UnsafeRawBufferPointer) -> Bool)?
    var memory = Data()
    var written: Int64 = 0
    var headers: [String: String] = [:]
    var failure: TransferError?
    /// Set by libcurl's socket opener when it refused a link-local address (it outlives the
    /// transfer's calls into C, so it is not a Swift property's address).
    let refusal: UnsafeMutablePointer<Int32> = {
        let flag = UnsafeMutablePointer<Int32>.allocate(capacity: 1)
        flag.initialize(to: 0)
        return flag
    }()
    /// The status of the response being received, known once its status line has arrived.
    private var status = 0

    init(curl: UnsafeMutableRawPointer, limit: Int64, progress: ((Int64, Int64) -> Bool)?) {
        self.curl = curl
        self.limit = limit
        self.progress = progress
    }

    deinit { refusal.deallocate() }

    func header(_ data: UnsafeMutablePointer<CChar>, _ length: Int) -> Int {
        let line = String(decoding: UnsafeRawBufferPointer(start: data, count: length), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        if line.hasPrefix("HTTP/") {
            // A new response (after a redirect or a 100 Continue): its headers replace the last ones.
            headers = [:]
            let parts = line.split(separator: " ")
            status = parts.count > 1 ? Int(parts[1]) ?? 0 : 0
        } else if let colon = line.firstIndex(of: ":") {
            let name = line[..<colon].lowercased()
            headers[name] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return length
    }

    func write(_ data: UnsafeMutablePointer<CChar>, _ length: Int) -> Int {
        if status < 400, let consume {
            guard written + Int64(length) <= limit else { return tooLarge() }
            written += Int64(length)
            if consume(UnsafeRawBufferPointer(start: data, count: length)) { return length }
            failure = TransferError(kind: .aborted, message: "transfer cancelled")
            return 0
        }
        if status >= 400 || fileDescriptor < 0 {
            // Error bodies are explanations: keep at most 64 KiB of them.
            if status >= 400 && memory.count > 64 << 10 { return length }
            guard status >= 400 || Int64(memory.count + length) <= limit else { return tooLarge() }
            memory.append(UnsafeRawPointer(data).assumingMemoryBound(to: UInt8.self), count: length)
            return length
        }
        guard written + Int64(length) <= limit else { return tooLarge() }
        var offset = 0
        while offset < length {
            let n = Foundation.write(fileDescriptor, data + offset, length - offset)
            if n < 0 {
                if errno == EINTR { continue }
                failure = TransferError(kind: .localFile, message: "writing the download failed: \(String(cString: strerror(errno)))")
                return 0
            }
            offset += n
        }
        written += Int64(length)
        return length
    }

    func report(done: Int64, total: Int64) -> Bool {
        guard status < 300, let progress else { return true }
        if progress(done, total) { return true }
        failure = TransferError(kind: .aborted, message: "transfer cancelled")
        return false
    }

    private func tooLarge() -> Int {
        failure = TransferError(kind: .tooLarge, message: "the body exceeds \(limit) bytes")
        return 0
    }
}
