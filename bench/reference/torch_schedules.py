"""The learning rates (and Adam's beta1) torch 1.13 sets before each optimiser step, for the
per-step schedules gpumlp transcribes (tests/GpuMlp.Tests/Training/StepScheduleTests.cs holds this
script's output as a literal): OneCycleLR in several configurations, LinearLR warm-up followed by a
cosine (CosineAnnealingLR) or linear (LinearLR to 0) decay through SequentialLR, and the label-smoothed
cross-entropy of one small batch. Run: python3 bench/reference/torch_schedules.py"""
import torch


def one_cycle(total, **kwargs):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.Adam([p], lr=0.01, betas=(0.7, 0.9))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.01, total_steps=total, **kwargs)
    rows = []
    for _ in range(total):
        g = opt.param_groups[0]
        rows.append((g["lr"], g["betas"][0]))
        opt.step()
        sched.step()
    return rows


def warmup_then(total, warmup, start_factor, decay):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=0.1)
    first = torch.optim.lr_scheduler.LinearLR(opt, start_factor=start_factor, end_factor=1.0, total_iters=warmup)
    if decay == "cosine":
        second = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total - warmup)
    else:
        second = torch.optim.lr_scheduler.LinearLR(opt, start_factor=1.0, end_factor=0.0, total_iters=total - warmup)
    sched = torch.optim.lr_scheduler.SequentialLR(opt, [first, second], milestones=[warmup])
    rows = []
    for _ in range(total):
        rows.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return rows


def main():
    print("torch", torch.__version__)
    configs = [
        ("cos 20", 20, {}),
        ("linear 20", 20, {"anneal_strategy": "linear"}),
        ("cos 20 pct 0.25 div 10 final 100", 20, {"pct_start": 0.25, "div_factor": 10.0, "final_div_factor": 100.0}),
        ("cos 20 three_phase", 20, {"three_phase": True}),
        ("cos 7", 7, {}),
        ("cos 20 no momentum", 20, {"cycle_momentum": False}),
    ]
    for name, total, kwargs in configs:
        print(f"# OneCycleLR {name} {kwargs}: (lr, beta1) per step")
        for lr, beta1 in one_cycle(total, **kwargs):
            print(f"{lr!r}, {beta1!r},")
    for decay in ("cosine", "linear"):
        print(f"# SequentialLR(LinearLR(start_factor=0.25, total_iters=5), {decay}) over 20 steps, lr 0.1")
        for lr in warmup_then(20, 5, 0.25, decay):
            print(f"{lr!r},")
    torch.manual_seed(0)
    logits = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    target = torch.tensor([0, 3, 1])
    loss = torch.nn.CrossEntropyLoss(label_smoothing=0.1)(logits, target)
    loss.backward()
    print("# CrossEntropyLoss(label_smoothing=0.1): logits, targets, loss, grad")
    print([float(x) for x in logits.detach().flatten()])
    print(target.tolist())
    print(repr(float(loss)))
    print([float(x) for x in logits.grad.flatten()])


if __name__ == "__main__":
    main()
