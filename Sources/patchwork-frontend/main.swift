import PatchworkFrontend

await FrontendCommand.mainWithEnvironment()
