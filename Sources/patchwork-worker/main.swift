import PatchworkWorker

await WorkerCommand.mainWithEnvironment()
