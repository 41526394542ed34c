"""The click group every tsmap command line uses (tsmap's own and plugins' such as tsmap_train)."""

import click

from .errors import Interrupted, TsmapError, plain_message


class RequiredFirst(click.Command):
    """A command whose ``--help`` lists its required options first (then the rest in declaration order)."""

    def get_params(self, ctx):
        return sorted(super().get_params(ctx), key=lambda p: not getattr(p, "required", False))


class ErrorGroup(click.Group):
    """Turns library errors into one line on stderr and exit code 1, without a traceback; an interrupted
    run says what it kept (exit code 130, as for Ctrl-C)."""

    command_class = RequiredFirst

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except TsmapError as exc:
            click.echo(f"Error: {plain_message(exc, first_line=False)}", err=True)
            ctx.exit(1)
        except Interrupted as exc:
            click.echo(f"Stopped: {exc}", err=True)
            ctx.exit(130)
