using LoadBalancing.Kubectl;

return await KubectlLb.RunAsync(args, Console.Out, Console.Error);
