"""How SAM CLI reads a command line, without running it: its own click command, with the
samconfig.toml of the current directory, exactly as `sam COMMAND ARGS...` would read them there.

usage: sam-cli-parse.py COMMAND [ARGS...]    (COMMAND: build, deploy, package, publish, validate)
Prints the command's parameters as one JSON object; on a usage error SAM CLI would stop with,
prints its message on stderr and exits 2. Nothing is built, uploaded or deployed.
"""
import importlib
import json
import sys

import click


def main():
    command, *args = sys.argv[1:]
    cli = importlib.import_module(f"samcli.commands.{command}.command").cli
    try:
        ctx = cli.make_context(command, list(args), resilient_parsing=False)
    except click.ClickException as e:
        print(f"Error: {e.format_message()}", file=sys.stderr)
        sys.exit(2)
    print(json.dumps(ctx.params, default=str))


if __name__ == "__main__":
    main()
