"""The embedding pass: the speed choices it makes (batch size, folded BatchNorm) leave the features as they were."""
import numpy as np
import pytest
import torch

from tlcore.models.weights import create_backbone
from tlcore.training.embeddings import compute_embeddings
from tlcore.data.batches import inference_batch_size, to_model_input

CPU = torch.device("cpu")


@pytest.mark.parametrize("size, expected", [(32, 64), (64, 64), (128, 19), (224, 6), (320, 3), (1024, 2)])
def test_cpu_batches_shrink_as_images_grow(size, expected):
    assert inference_batch_size(size, CPU) == expected


def test_gpu_batches_stay_large():
    assert inference_batch_size(224, torch.device("cuda")) == 64  # no CUDA needed to ask


def test_features_do_not_depend_on_batching_or_folding():
    backbone = create_backbone("mobilenet_v2", pretrained=True).to(memory_format=torch.channels_last)
    images = np.random.default_rng(0).integers(0, 256, (7, 64, 64, 3), dtype=np.uint8)
    with torch.inference_mode():  # the plain network, one image at a time, BatchNorm as it is
        plain = torch.cat([backbone.eval()(to_model_input(torch.from_numpy(images[i:i + 1]), backbone.spec.mean,
                                                          backbone.spec.std, CPU)) for i in range(len(images))])
    for batch_size in (None, 3, 64):
        features = compute_embeddings(backbone, images, device=CPU, batch_size=batch_size)
        assert features.shape == (7, backbone.spec.feature_dim)
        np.testing.assert_allclose(features, plain.numpy(), rtol=1e-4, atol=1e-4)
