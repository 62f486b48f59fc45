import CPatchworkKernels
import PatchworkFormats

/// A weight matrix `[rows, columns]` (PyTorch's `[out, in]`) as the products read it: f32
/// values for OpenBLAS and the SIMD loops when the file holds f32, otherwise the file's
/// encoding repacked once into the kernels' row-interleaved tiles (``CPatchworkKernels``), about
/// the file's size. Several tensors may be stacked row-wise (q, k, v); parts of one encoding
/// share one packed matrix, parts of different encodings are segments of one product.
///
/// `@unchecked Sendable`: immutable after init; the packed memory is freed only by `deinit`.
public final class WeightMatrix: @unchecked Sendable {
    public let rows: Int
    public let columns: Int
    /// f32 values, row-major, when every part is f32 (and no `--quantize` applies).
    let floats: [Float]?
    /// The packed matrices in row order and the first row of each.
    private let packed: [(matrix: UnsafeMutablePointer<pw_matrix>, row: Int, type: GGMLType)]
    /// `packed` as the kernels take it.
    let segments: [pw_segment]

    /// Stacks `parts` row-wise, each kept in its encoding, or quantized to `quantize` (Q8_0,
    /// Q4_0) when it is f32, f16 or bf16 and its rows are whole blocks. File bytes pass through
    /// `staging` (one buffer for a whole load, see ``LoadStaging``).
    init(stacking parts: [EncodedTensor], quantize: GGMLType? = nil, staging: LoadStaging = LoadStaging()) throws(ModelFileError) {
        precondition(!parts.isEmpty)
        let columns = parts[0].columns
        self.columns = columns
        rows = parts.reduce(0) { $0 + $1.rows }
        for part in parts where part.columns != columns {
            throw ModelFileError("tensor \(part.name) has rows of \(part.columns) values, the others of \(columns)")
        }
        func stored(_ part: EncodedTensor) -> GGMLType {
            guard let quantize, [.f32, .f16, .bf16].contains(part.type), columns % quantize.blockSize == 0 else { return part.type }
            return quantize
        }
        if parts.allSatisfy({ stored($0) == .f32 }) {
            var values: [Float] = []
            values.reserveCapacity(rows * columns)
            for part in parts { values += try part.floats() }
            floats = values
            packed = []
            segments = []
            return
        }
        floats = nil
        // Runs of parts stored alike become one packed matrix.
        var runs: [(type: GGMLType, parts: [EncodedTensor], row: Int)] = []
        var row = 0
        for part in parts {
            let type = stored(part)
            if let last = runs.last, last.type == type { runs[runs.count - 1].parts.append(part) } else { runs.append((type, [part], row)) }
            row += part.rows
        }
        var packed: [(UnsafeMutablePointer<pw_matrix>, Int, GGMLType)] = []
        do throws(ModelFileError) {
            for run in runs {
                let runRows = run.parts.reduce(0) { $0 + $1.rows }
                let kind = pw_kind_for_ggml_type(Int32(run.type.rawValue))
                guard kind >= 0, let matrix = pw_matrix_create(pw_kind(UInt32(kind)), Int32(runRows), Int32(columns)) else {
                    throw ModelFileError("tensor \(run.parts[0].name): cannot hold \(runRows) × \(columns) \(run.type.name) values")
                }
                packed.append((matrix, run.row, run.type))
                var first = 0
                for part in run.parts {
                    try Self.pack(part, into: matrix, at: first, as: run.type, staging: staging)
                    first += part.rows
                }
            }
        } catch {
            for (matrix, _, _) in packed { pw_matrix_destroy(matrix) }
            throw error
        }
        self.packed = packed
        segments = packed.map { pw_segment(w: UnsafePointer($0.0), y_offset: Int32($0.1)) }
    }

    /// f32 weights `[rows, columns]`, row-major.
    init(floats: [Float], rows: Int, columns: Int) {
        precondition(floats.count == rows * columns)
        self.rows = rows
        self.columns = columns
        self.floats = floats
        packed = []
        segments = []
    }

    deinit { for part in packed { pw_matrix_destroy(part.matrix) } }

    /// The matrix decoded to f32 (checks of the forward pass against f32 references).
    func dequantized() -> WeightMatrix {
        if floats != nil { return self }
        var values = [Float](repeating: 0, count: rows * columns)
        values.withUnsafeMutableBufferPointer { out in for r in 0..<rows { row(r, into: out.baseAddress! + r * columns) } }
        return WeightMatrix(floats: values, rows: rows, columns: columns)
    }

    /// Reads `part` a few MB at a time and packs its rows from row `first` of `matrix`.
    private static func pack(
        _ part: EncodedTensor, into matrix: UnsafeMutablePointer<pw_matrix>, at first: Int, as type: GGMLType, staging: LoadStaging
    ) throws(ModelFileError) {
        let rowBytes = part.rowBytes, chunk = max(1, LoadStaging.bytes / max(rowBytes, 1))
        let buffer = staging.buffer(bytes: min(chunk, part.rows) * rowBytes)
        let converted = type == part.type ? nil : UnsafeMutableRawPointer.allocate(byteCount: type.bytes(count: part.columns), alignment: 64)
        defer { converted?.deallocate() }
        let floats = type == part.type ? nil : UnsafeMutablePointer<Float>.allocate(capacity: part.columns)
        defer { floats?.deallocate() }
        var start = 0
        while start < part.rows {
            let count = min(chunk, part.rows - start)
            try part.readRows(start..<start + count, buffer)
            for i in 0..<count {
                var source = UnsafeRawPointer(buffer + i * rowBytes)
                if let converted, let floats {
                    part.type.dequantize(source, count: part.columns, into: floats)
                    GGMLQuantizer.quantize(floats, count: part.columns, as: type, into: converted)
                    source = UnsafeRawPointer(converted)
                }
                guard pw_matrix_pack_row(matrix, Int32(first + start + i), Int32(type.rawValue), source) == 1 else {
                    throw ModelFileError("tensor \(part.name): cannot pack \(type.name) rows")
                }
            }
            start += count
        }
    }

    /// Writes row `row` as f32 values (embedding lookups).
    func row(_ row: Int, into out: UnsafeMutablePointer<Float>) {
        if let floats {
            floats.withUnsafeBufferPointer { out.update(from: $0.baseAddress! + row * columns, count: columns) }
            return
        }
        let part = packed.last { $0.row <= row }!
        pw_matrix_dequantize_row(part.matrix, Int32(row - part.row), out)
    }

    /// Whether the products go through the packed kernels.
    var isPacked: Bool { floats == nil }

    /// Resident bytes by encoding name ("Q4_1", "F32").
    public var residentBytes: [String: Int] {
        if let floats { return ["F32": 4 * floats.count] }
        var bytes: [String: Int] = [:]
        for part in packed { bytes[part.type.name, default: 0] += Int(part.matrix.pointee.bytes) }
        return bytes
    }

    /// The encodings the matrix holds, in row order.
    public var encodings: [String] { floats != nil ? ["F32"] : packed.map(\.type.name) }
}

/// The buffer a model's file bytes pass through on their way into the packed matrices, reused
/// for every tensor of a load.
///
/// A buffer allocated per tensor would be freed between persistent allocations: glibc raises
/// its mmap threshold after the first large free, later buffers come from the heap, and the
/// heap they leave behind stays resident (measured: 30 MB for SmolLM2's 30 layers).
public final class LoadStaging: @unchecked Sendable {
    // @unchecked Sendable: used by one loading thread at a time.
    static let bytes = 4 << 20
    private var storage: UnsafeMutableRawPointer?
    private var capacity = 0

    public init() {}

    deinit { storage?.deallocate() }

    /// At least `bytes` bytes, valid until the next call.
    func buffer(bytes: Int) -> UnsafeMutableRawPointer {
        if bytes > capacity {
            storage?.deallocate()
            capacity = max(bytes, Self.bytes)
            storage = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 64)
        }
        return storage!
    }
}
