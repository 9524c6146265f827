"""`gatecast upgrade-model`: give a model folder you trust the current checksum, and a signature."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from gatecast.cli import options
from gatecast.cli.output import console

app = typer.Typer()


@app.command("upgrade-model")
def upgrade_model(
    folder: Path = typer.Argument(..., help=options.MODEL_FOLDER_HELP),
    signing_key: Path | None = options.SIGNING_KEY_SAVE,
) -> None:
    """Rewrite FOLDER's manifest in the current format (one checksum over the manifest and the
    weights' checksum), signed with a key if one is given; the weights are not touched.

    A folder from before manifests had a checksum (format 1 or 2) cannot show whether it was
    edited since it was written: this command trusts its content as it is now, so run it only
    on a folder you know is the one gatecast wrote. It is still refused if its weights do not
    match their recorded checksum or it does not describe a valid model. A format 3 or 4 folder
    must match its checksums first.
    """
    from gatecast.inference.upgrade import upgrade_model_folder

    done = upgrade_model_folder(folder, signing_key=signing_key)
    console.print(escape(done.summary()), highlight=False)
