import PatchworkRouter

await RouterCommand.mainWithEnvironment()
