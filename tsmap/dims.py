"""Dimension and coordinate names of every xarray object tsmap makes or reads: the one place they are spelled."""

TIME, BAND, MONTH, Y, X = "time", "band", "month", "y", "x"
EMBED = "embed"  #: the embedding axis
PATCH_Y, PATCH_X = "patch_y", "patch_x"  #: a pixel's P x P neighbourhood (see :mod:`tsmap.patches`)
CLASS, RANK = "class", "rank"  #: per-class scores, top-k ranks
SPATIAL_REF = "spatial_ref"  #: the CF grid-mapping coordinate that carries the CRS
