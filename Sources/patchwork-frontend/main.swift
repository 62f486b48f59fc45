import PatchworkFrontend
import PatchworkRuntime

await FrontendCommand.mainWithEnvironment()
