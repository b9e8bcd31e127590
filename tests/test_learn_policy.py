"""The policy network and REINFORCE: gradient sign and learning on a toy bandit whose right arm
is known, and the difficulty auxiliary loss."""
import torch

from rlmba.learn import PolicyNet, Reinforce, Step
from rlmba.ops.sampling import plackett_luce_log_prob, plackett_luce_sample

K, RIGHT = 6, 4


def _bandit(seed=0, **kw):
    torch.manual_seed(seed)
    net = PolicyNet(state_dim=3, cand_dim=K, hidden=16).double()
    state, cands = torch.tensor([0.3, -1.0, 0.5], dtype=torch.float64), torch.eye(K, dtype=torch.float64)
    return net, Reinforce(net, **{"lr": 0.05, "lambda2": 0.0, **kw}), state, cands


def _probs(net, state, cands):
    with torch.no_grad():
        return torch.softmax(net(state, cands), 0)


def test_policy_net_shapes():
    net = PolicyNet(4, 7, hidden=8)
    assert net(torch.randn(4), torch.randn(11, 7)).shape == (11,)
    assert [type(m).__name__ for m in net.net] == ["Linear", "ReLU", "Linear"]


def test_gradient_sign_follows_the_advantage():
    for reward, sign in ((1.0, 1), (0.0, -1)):
        net, trainer, s, c = _bandit()
        trainer.baseline = 0.5  # advantage = reward - 0.5
        before = _probs(net, s, c)[RIGHT]
        trainer.update([Step(s, c, torch.tensor([RIGHT]), torch.zeros(K))], [reward])
        after = _probs(net, s, c)[RIGHT]
        assert sign * (after - before) > 0


def test_reinforce_learns_the_right_arm_of_a_bandit():
    net, trainer, s, c = _bandit(gamma=0.9, baseline_smoothing=0.1)
    g = torch.Generator().manual_seed(123)
    start = _probs(net, s, c)[RIGHT].item()
    for _ in range(150):
        with torch.no_grad():
            logits = net(s, c)
        picks, logp = plackett_luce_sample(logits, 2, generator=g)
        torch.testing.assert_close(logp, plackett_luce_log_prob(logits, picks))
        trainer.update([Step(s, c, picks, torch.zeros(K))], [float(RIGHT in picks.tolist())])
    end = _probs(net, s, c)
    assert start < 0.3 and end[RIGHT] > 0.8 and end.argmax() == RIGHT


def test_multi_step_episode_uses_discounted_returns():
    net, trainer, s, c = _bandit()
    trainer.baseline = 0.0
    steps = [Step(s, c, torch.tensor([RIGHT]), torch.zeros(K)), Step(s, c, torch.tensor([0]), torch.zeros(K))]
    loss, adv = trainer.loss(steps, [0.0, 1.0], baseline=0.0)
    torch.testing.assert_close(adv, torch.tensor([0.9, 1.0], dtype=torch.float64))
    ref = -(0.9 * plackett_luce_log_prob(net(s, c), torch.tensor([RIGHT]))
            + 1.0 * plackett_luce_log_prob(net(s, c), torch.tensor([0]))) / 2
    torch.testing.assert_close(loss, ref)


def test_difficulty_loss_moves_mass_to_hard_candidates():
    net, trainer, s, c = _bandit(lambda2=1.0)
    hinge = torch.tensor([0.5, 0.5, 0.5, 0.5, 0.0, 0.5], dtype=torch.float64)  # only RIGHT is above tau_u
    before = _probs(net, s, c)[RIGHT]
    for _ in range(20):
        trainer.baseline = 1.0  # zero advantage: only the auxiliary loss acts
        trainer.update([Step(s, c, torch.tensor([0]), hinge)], [1.0])
    assert _probs(net, s, c)[RIGHT] > before + 0.1


def test_baseline_starts_at_first_return_then_moves_by_the_smoothing():
    _, trainer, s, c = _bandit(baseline_smoothing=0.1)
    step = Step(s, c, torch.tensor([1]), torch.zeros(K))
    trainer.update([step], [2.0])
    assert trainer.baseline == 2.0
    trainer.update([step], [0.0])
    assert abs(trainer.baseline - 1.8) < 1e-12
