"""What `sam local invoke` would run, without Docker: SAM CLI's own `local invoke` command, run in
process for each event file, with only the container step replaced. Everything before it is SAM's
code: samconfig.toml (its local_invoke env_vars file), the template, the intrinsic functions SAM
resolves locally, the env-vars overrides, the environment it would give the container.

usage: sam-local-env.py [sam local invoke options...] -- EVENT.json...
Prints one JSON object per event: {"event": path, "function": logical id, "handler", "runtime",
"codeDir": the code SAM would mount, "env": the environment SAM would give the function,
"payload": the event as SAM read it}. Run it from the directory holding samconfig.toml.

usage: sam-local-env.py --routes TEMPLATE
Prints the routes `sam local start-api` would serve, one JSON object per line:
{"path", "methods", "function"} (SAM's own API provider).
"""
import json
import sys
from unittest import mock

from samcli.cli.main import cli
from samcli.local.docker.container_client_factory import ContainerClientFactory
from samcli.local.lambdafn.runtime import LambdaRuntime


def routes(template):
    from samcli.lib.providers.api_provider import ApiProvider
    from samcli.lib.providers.sam_stack_provider import SamLocalStackProvider

    stacks, _ = SamLocalStackProvider.get_stacks(template)
    for route in ApiProvider(stacks).routes:
        print(json.dumps({"path": route.path, "methods": sorted(route.methods), "function": route.function_name}))


def main():
    args = sys.argv[1:]
    if args[:1] == ["--routes"]:
        routes(args[1])
        return
    split = args.index("--") if "--" in args else len(args)
    options, events = args[:split], args[split + 1 :]
    seen = []

    def fake_invoke(self, function_config, event, *rest, **kwargs):
        seen.append(
            {
                "function": function_config.name,
                "handler": function_config.handler,
                "runtime": function_config.runtime,
                "codeDir": function_config.code_abs_path,
                "env": function_config.env_vars.resolve(),
                "payload": json.loads(event),
            }
        )
        return None

    out = []
    # The two places Docker would be needed: the container client SAM creates at start (a stand-in
    # that is never used), and the invoke.
    with mock.patch.object(ContainerClientFactory, "create_client", mock.MagicMock()), mock.patch.object(
        LambdaRuntime, "invoke", fake_invoke
    ):
        for event in events:
            before = len(seen)
            try:
                cli.main(["local", "invoke", *options, "--event", event], standalone_mode=False)
            except SystemExit as e:
                if e.code not in (0, None):
                    raise
            if len(seen) != before + 1:
                raise RuntimeError(f"sam local invoke did not reach the function for {event}")
            out.append({"event": event, **seen[-1]})
    for record in out:
        print(json.dumps(record))


if __name__ == "__main__":
    main()
