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


@pytest.mark.parametrize("depth", [10, 18])
@pytest.mark.parametrize("channels", [1, 3])
def test_average_pool_resnets_match_their_strided_twins_in_shape_and_size(depth, channels):
    ap, plain = make_model(f"resnet{depth}_ap", channels, 10), make_model(f"resnet{depth}", channels, 10)
    assert ap.stage_names == plain.stage_names and MIDDLE_LAYER[f"resnet{depth}_ap"] == "stage2"
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(ap) == count(plain) == {10: 4_903_242, 18: 11_173_962}[depth] - 64 * 9 * (3 - channels)
    x = torch.randn(2, channels, 32, 32)
    for stage, shape in zip(plain.stage_names, [(64, 32, 32), (64, 32, 32), (128, 16, 16), (256, 8, 8),
                                                (512, 4, 4), (512, 1, 1)]):
        assert ap.forward_with(x, stage)[1].shape == plain.forward_with(x, stage)[1].shape == (2, *shape)
    assert ap(x).shape == (2, 10)
    # downsampling by pooling: no strided convolution anywhere, an average pool in each of stages 2-4
    assert all(m.stride == (1, 1) for m in ap.modules() if isinstance(m, torch.nn.Conv2d))
    assert [any(isinstance(m, torch.nn.AvgPool2d) for m in ap.stages[f"stage{i}"].modules()) for i in (1, 2, 3, 4)] \
        == [False, True, True, True]


def test_average_pool_block_pools_after_the_first_conv_and_in_the_shortcut():
    """A 2x2 average pool commutes with a 1x1 conv and a per-sample affine map, so with no norm
    the AP shortcut equals a stride-1 1x1 conv on the average-pooled input."""
    from gdd.models import BasicBlock
    block = BasicBlock(4, 8, 2, "none", avgpool=True).eval()
    x = torch.randn(3, 4, 8, 8)
    conv = block.shortcut[0]
    assert torch.allclose(block.shortcut(x), conv(torch.nn.functional.avg_pool2d(x, 2)), atol=1e-6)
    out = block.conv2(torch.nn.functional.avg_pool2d(torch.relu(block.conv1(x)), 2))
    assert torch.allclose(block(x), torch.relu(out + block.shortcut(x)), atol=1e-6)


def test_pool_width_knob_reaches_the_average_pool_resnets():
    from gdd import pool
    model, layer = pool.build("resnet18_ap", 3, 10, width=32)  # DiM's CIFAR widths 32-64-128-256
    assert layer == "stage2" and model.head.in_features == 256
    assert model.forward_with(torch.randn(1, 3, 32, 32), "stage2")[1].shape == (1, 64, 16, 16)
