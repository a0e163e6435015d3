"""Generator/discriminator architectures, their layer ops and normalisers.

Importing this package registers every architecture with gin (`@sndcgan()`, `@dcgan()`,
`@resnet19()`, `@resnet_cifar()`, `@infogan()`, `@mlp()`, and compare_gan v3's `@resnet_biggan()`,
`@resnet_biggan_deep()`, `@resnet30()`, `@resnet_stl()`) and every normaliser
(`@batch_norm`, `@conditional_batch_norm`, `@self_modulated_batch_norm`, `@no_batch_norm`).
"""

import inspect

from compare_gan import config
from compare_gan.architectures import base
from compare_gan.architectures import normalization
from compare_gan.architectures import ops
from compare_gan.architectures import dcgan
from compare_gan.architectures import infogan
from compare_gan.architectures import mlp
from compare_gan.architectures import resnet19
from compare_gan.architectures import resnet30
from compare_gan.architectures import resnet_biggan
from compare_gan.architectures import resnet_biggan_deep
from compare_gan.architectures import resnet_cifar
from compare_gan.architectures import resnet_stl
from compare_gan.architectures import sndcgan

ARCHITECTURES = base.ARCHITECTURES
get_architecture = base.get_architecture

NORMALIZERS = (normalization.no_batch_norm, normalization.batch_norm,
               normalization.conditional_batch_norm, normalization.self_modulated_batch_norm)

config.register_catalogue(
    "normalizers", "normalizers (G.batch_norm_fn, D.batch_norm_fn)",
    lambda: [(f"@{fn.__name__}", config.summary(fn)) for fn in NORMALIZERS])
config.register_catalogue(
    "architectures", "architectures",
    lambda: [(f"@{name}()", config.summary(inspect.getmodule(arch.generator)))
             for name, arch in sorted(ARCHITECTURES.items())])
