# Measuring aid only (not part of the project): PyTorch training/inference
# img/s at batch 64 for models equivalent to vitkd's resnet8, rednet8, vit-small.
import sys, time, torch, torch.nn as nn, torch.nn.functional as F
torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
SECONDS = float(sys.argv[2]) if len(sys.argv) > 2 else 4

class Involution(nn.Module):
    def __init__(self, c, k=3, stride=1, gc=16, r=4):
        super().__init__()
        self.k, self.s, self.g = k, stride, c // gc
        self.reduce = nn.Sequential(nn.Conv2d(c, c // r, 1, bias=False), nn.BatchNorm2d(c // r), nn.ReLU())
        self.span = nn.Conv2d(c // r, k * k * self.g, 1)
        self.pool = nn.AvgPool2d(stride, stride) if stride > 1 else nn.Identity()
        self.unfold = nn.Unfold(k, 1, (k - 1) // 2, stride)
    def forward(self, x):
        n, c, h, w = x.shape
        wt = self.span(self.reduce(self.pool(x)))
        oh, ow = wt.shape[2:]
        wt = wt.view(n, self.g, 1, self.k * self.k, oh, ow)
        u = self.unfold(x).view(n, self.g, c // self.g, self.k * self.k, oh, ow)
        return (wt * u).sum(3).view(n, c, oh, ow)

def block(cin, cout, stride, inv):
    class B(nn.Module):
        def __init__(s):
            super().__init__()
            if inv:
                layers = [Involution(cin, stride=stride), nn.BatchNorm2d(cin), nn.ReLU()]
                if cin != cout: layers += [nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]
                layers += [Involution(cout), nn.BatchNorm2d(cout)]
            else:
                layers = [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
                          nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout)]
            s.main = nn.Sequential(*layers)
            s.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)) if stride != 1 or cin != cout else nn.Identity()
        def forward(s, x): return F.relu(s.main(x) + s.short(x))
    return B()

def resnet8(inv):
    return nn.Sequential(nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
                         block(16, 16, 1, inv), block(16, 32, 2, inv), block(32, 64, 2, inv),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))

class ViT(nn.Module):
    def __init__(s, dim=128, depth=6, heads=4, mlp=256, patch=4, tokens=2):
        super().__init__()
        s.t = 1 + tokens
        s.embed = nn.Conv2d(3, dim, patch, patch)
        s.cls = nn.Parameter(torch.zeros(1, s.t, dim))
        s.pos = nn.Parameter(torch.zeros(1, s.t + 64, dim))
        layer = nn.TransformerEncoderLayer(dim, heads, mlp, 0.0, activation="gelu", batch_first=True, norm_first=True)
        s.blocks = nn.TransformerEncoder(layer, depth)
        s.norm = nn.LayerNorm(dim)
        s.heads = nn.ModuleList([nn.Linear(dim, 10) for _ in range(s.t)])
    def forward(s, x):
        x = s.embed(x).flatten(2).transpose(1, 2)
        x = torch.cat([s.cls.expand(x.shape[0], -1, -1), x], 1) + s.pos
        x = s.norm(s.blocks(x))
        return [h(x[:, i]) for i, h in enumerate(s.heads)]

def timed(fn):
    fn()
    n, start = 0, time.perf_counter()
    while n < 2 or time.perf_counter() - start < SECONDS:
        fn(); n += 1
    return (time.perf_counter() - start) / n

x = torch.randn(64, 3, 32, 32); y = torch.randint(0, 10, (64,))
# optional third argument: the models to run, comma-separated (default all)
WANTED = sys.argv[3].split(",") if len(sys.argv) > 3 else None
for name, build in [("resnet8", lambda: resnet8(False)), ("rednet8", lambda: resnet8(True)), ("vit-small", ViT)]:
    if WANTED and name not in WANTED: continue
    model = build()
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    def train():
        model.train(); opt.zero_grad()
        out = model(x); outs = out if isinstance(out, list) else [out]
        sum(F.cross_entropy(o, y) for o in outs).backward(); opt.step()
    def infer():
        model.eval()
        with torch.no_grad(): model(x)
    print(f"{name}: train {64 / timed(train):.1f} img/s, infer {64 / timed(infer):.1f} img/s", flush=True)
n = 1024; a = torch.randn(n, n); b = torch.randn(n, n)
if not WANTED: print(f"matmul 1024^3: {2 * n**3 / timed(lambda: a @ b) / 1e9:.1f} GFLOP/s")
