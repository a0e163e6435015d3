"""compare_gan: large-scale GAN comparison benchmark on TensorFlow 2."""

import setuptools

setuptools.setup(
    name="compare_gan",
    version="4.0.0.dev0",
    description=("Train, sweep and score many GANs under one protocol "
                 "(\"The GAN Landscape\", \"Are GANs Created Equal?\") on "
                 "TensorFlow 2."),
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    packages=setuptools.find_packages(include=["compare_gan", "compare_gan.*"]),
    python_requires=">=3.10",
    install_requires=[
        "tensorflow>=2.16",  # Keras 3 is tf.keras from 2.16 on.
        "tensorboard>=2.16",  # tf.summary needs it; tensorflow does not pull it in.
        "tensorflow-hub>=0.16",
        "tf-keras>=2.16",  # hub.KerasLayer needs the Keras 2 package under Keras 3.
        "tensorflow-datasets>=4.9.3",
        "gin-config>=0.5.0",
        "numpy>=1.26",
        "scipy>=1.11",
        "scikit-optimize>=0.10",
        "scikit-learn>=1.3",  # PRD clustering (MiniBatchKMeans).
        "pandas>=2.0",
        "absl-py>=1.4",
        "matplotlib>=3.7",
        "pillow>=10.0",
    ],
    extras_require={
        "test": ["pytest>=8.0", "pytest-xdist>=3.5", "pytest-timeout>=2.2"],
        "dask": ["dask[distributed]>=2024.1"],
    },
    entry_points={"console_scripts": ["compare_gan = compare_gan.cli:main"]},
    classifiers=[
        "License :: OSI Approved :: Apache Software License",
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
