[assembly: Parallelize(Workers = 4, Scope = ExecutionScope.MethodLevel)]

namespace JobScheduler.Tests.Support;

[TestClass]
public static class AssemblySetup
{
    [AssemblyInitialize]
    public static async Task StartAsync(TestContext context) => await TestDatabase.StartAsync();

    [AssemblyCleanup]
    public static async Task StopAsync() => await TestDatabase.StopAsync();
}
