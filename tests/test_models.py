import pytest
import torch

from gdd.models import MIDDLE_LAYER, MODELS, make_model


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("channels", [1, 3])
def test_forward_and_named_features(name, channels):
    model = make_model(name, channels, 7).eval()
    x = torch.randn(2, channels, 32, 32)
    logits, feature = model.forward_with(x, MIDDLE_LAYER[name])
    assert logits.shape == (2, 7) and torch.allclose(logits, model(x), atol=1e-5)
    assert feature.ndim == 4 and feature.shape[0] == 2


def test_required_stages_exist():
    conv = make_model("convnet3", 1, 10)
    assert conv.stage_names == ["block1", "block2", "block3"]
    x = torch.randn(1, 1, 32, 32)
    shapes = [conv.forward_with(x, f"block{i}")[1].shape for i in (1, 2, 3)]
    assert shapes == [(1, 128, 16, 16), (1, 128, 8, 8), (1, 128, 4, 4)]
    res = make_model("resnet18", 3, 10)
    widths = [res.forward_with(torch.randn(1, 3, 32, 32), f"stage{i}")[1].shape[1] for i in (1, 2, 3, 4)]
    assert widths == [64, 128, 256, 512]


def test_convnet_is_configurable():
    m = make_model("convnet3", 3, 10, width=32, depth=2, norm="batch")
    assert m.stage_names == ["block1", "block2"] and m.head.in_features == 32 * 8 * 8
    assert any(isinstance(x, torch.nn.BatchNorm2d) for x in m.modules())


def test_unknown_model_lists_valid_names():
    with pytest.raises(ValueError, match="unknown model 'lenet'.*convnet3.*vgg11"):
        make_model("lenet", 1, 10)
    with pytest.raises(KeyError, match="no stage 'stage9'"):
        make_model("resnet10", 1, 10).forward_with(torch.randn(1, 1, 32, 32), "stage9")
