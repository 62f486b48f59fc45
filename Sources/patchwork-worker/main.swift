import PatchworkWorker
import PatchworkRuntime

await WorkerCommand.mainWithEnvironment()
