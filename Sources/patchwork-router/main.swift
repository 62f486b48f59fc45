import PatchworkRouter
import PatchworkRuntime

await RouterCommand.mainWithEnvironment()
