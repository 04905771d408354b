"""CoordConv for PyTorch: convolutions that know where they are looking.

Liu et al., 2018, "An intriguing failing of convolutional neural networks and the CoordConv
solution" (arXiv 1807.03247). The library is ``coords`` / ``AddCoords``, the CoordConv layers,
``convert``, ``load_plain_state_dict``, ``load_concat_state_dict`` and ``fuse_conv_bn``; the
paper's reproduction lives in ``coordconv.experiments`` (not imported here).
"""

from coordconv.add_coords import AddCoords
from coordconv.checks import InputDtypeError, InputShapeError
from coordconv.conversion import convert, load_concat_state_dict, load_plain_state_dict
from coordconv.fusion import fuse_conv_bn
from coordconv.grid import coord_channels, coords
from coordconv.layers import (
    CoordConv1d,
    CoordConv2d,
    CoordConv3d,
    CoordConvTranspose1d,
    CoordConvTranspose2d,
    CoordConvTranspose3d,
)

__version__ = "0.2.0"

__all__ = [
    "AddCoords",
    "CoordConv1d",
    "CoordConv2d",
    "CoordConv3d",
    "CoordConvTranspose1d",
    "CoordConvTranspose2d",
    "CoordConvTranspose3d",
    "InputDtypeError",
    "InputShapeError",
    "__version__",
    "convert",
    "coord_channels",
    "coords",
    "fuse_conv_bn",
    "load_concat_state_dict",
    "load_plain_state_dict",
]
