"""The click group every tsmap command line uses (tsmap's own and plugins' such as tsmap_train)."""

import click

from .errors import TsmapError, plain_message


class ErrorGroup(click.Group):
    """Turns library errors into one line on stderr and exit code 1, without a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except TsmapError as exc:
            click.echo(f"Error: {plain_message(exc, first_line=False)}", err=True)
            ctx.exit(1)
