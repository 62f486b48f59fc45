import Foundation
import PatchworkFormats

/// A model file read with `pread` into buffers the loader owns. Weights are repacked as they
/// are read, so the file is never mapped whole: its pages stay in the page cache, not in the
/// process's resident memory next to the packed copy.
final class FileReader {
    let path: String
    let size: Int
    private let descriptor: Int32

    init(path: String) throws(ModelFileError) {
        self.path = path
        descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw ModelFileError("cannot open \(path): \(String(cString: strerror(errno)))") }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            close(descriptor)
            throw ModelFileError("cannot stat \(path): \(String(cString: strerror(errno)))")
        }
        size = Int(status.st_size)
    }

    deinit { close(descriptor) }

    /// Reads `count` bytes at `offset` into `buffer`.
    func read(offset: Int, count: Int, into buffer: UnsafeMutableRawPointer) throws(ModelFileError) {
        guard offset >= 0, count >= 0, offset + count <= size else {
            throw ModelFileError("\(path): bytes \(offset)..<\(offset + count) lie outside the file (\(size) bytes)")
        }
        var done = 0
        while done < count {
            let n = pread(descriptor, buffer + done, count - done, off_t(offset + done))
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw ModelFileError("cannot read \(path) at byte \(offset + done): \(n < 0 ? String(cString: strerror(errno)) : "end of file")") }
            done += n
        }
    }
}
