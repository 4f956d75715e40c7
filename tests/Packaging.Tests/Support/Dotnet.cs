using System.Diagnostics;
using System.Text;

namespace Packaging.Tests.Support;

/// <summary>Runs a process to its end within a deadline; past it the whole process tree is killed.</summary>
internal static class Dotnet
{
    /// <summary>The <c>dotnet</c> host: the one that runs MSBuild when it says so, else the one on the PATH.</summary>
    public static string Host => Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";

    public static Task<ProcessRun> RunAsync(string workingDirectory, TimeSpan timeout, params string[] arguments) =>
        RunProcessAsync(Host, workingDirectory, timeout, arguments);

    public static async Task<ProcessRun> RunProcessAsync(string fileName, string workingDirectory, TimeSpan timeout, params string[] arguments)
    {
        var start = new ProcessStartInfo(fileName)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        start.Environment["DOTNET_SKIP_FIRST_TIME_EXPERIENCE"] = "1";
        start.Environment["DOTNET_CLI_UI_LANGUAGE"] = "en";
        // No MSBuild node or compiler server outlives the command.
        start.Environment["MSBUILDDISABLENODEREUSE"] = "1";
        start.Environment["UseSharedCompilation"] = "false";
        // What a "dotnet test" host leaves in the environment would point the child at the parent's MSBuild.
        foreach (var inherited in new[] { "MSBuildExtensionsPath", "MSBuildSDKsPath", "MSBUILD_EXE_PATH", "MSBuildLoadMicrosoftTargetsReadOnly" })
        {
            start.Environment.Remove(inherited);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{fileName} did not start");
        process.StandardInput.Close();
        var output = new StringBuilder();
        var error = new StringBuilder();
        var reading = Task.WhenAll(CopyAsync(process.StandardOutput, output), CopyAsync(process.StandardError, error));

        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            await process.WaitForExitAsync(deadline.Token);
            await reading.WaitAsync(TimeSpan.FromSeconds(10));
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30), CancellationToken.None);
            throw new TimeoutException(
                $"'{fileName} {string.Join(' ', arguments)}' in {workingDirectory} was still running after {timeout.TotalSeconds:0} s and was killed.\n" +
                $"stdout:\n{Snapshot(output)}\nstderr:\n{Snapshot(error)}");
        }

        return new ProcessRun($"{Path.GetFileName(fileName)} {string.Join(' ', arguments)}", process.ExitCode, Snapshot(output), Snapshot(error));
    }

    private static async Task CopyAsync(StreamReader reader, StringBuilder into)
    {
        var buffer = new char[4096];
        int read;
        while ((read = await reader.ReadAsync(buffer)) > 0)
        {
            lock (into)
            {
                into.Append(buffer, 0, read);
            }
        }
    }

    private static string Snapshot(StringBuilder text)
    {
        lock (text)
        {
            return text.ToString();
        }
    }
}

public sealed record ProcessRun(string Command, int ExitCode, string Output, string Error)
{
    /// <summary>Fails the test with everything the command printed unless it exited with 0.</summary>
    public ProcessRun EnsureSuccess()
    {
        Assert.True(ExitCode == 0, $"'{Command}' exited with {ExitCode}.\nstdout:\n{Output}\nstderr:\n{Error}");
        return this;
    }
}
