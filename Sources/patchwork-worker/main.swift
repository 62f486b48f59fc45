import PatchworkEngine
import PatchworkWorker
import PatchworkRuntime

OpenBLASCore.ensureFastKernels()
await WorkerCommand.mainWithEnvironment()
