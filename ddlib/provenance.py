"""The protocol's choices with their sources, read from the code so the book's table cannot drift from it.
Sources: "paper" (the abstract), "reconstruction" (a public reconstruction of the paper's protocol),
"standard (X)" (anchor X's protocol), "ours" (our choice, with the reason)."""
from __future__ import annotations

from . import augment
from .config import RunConfig
from .distill import NAMES, ca2d, rded
from .findings.cad_prune import candidate_name
from .profile import Profile, teacher
from .report import markdown_table as _markdown_table
from .teacher import FLOORS, TeacherConfig
from .train import DEFAULT_OPTIMIZER, OPTIMIZERS, TEMPERATURE


def choices() -> list:
    sgd, adamw, t, run, q = OPTIMIZERS["sgd"], OPTIMIZERS["adamw"], TeacherConfig(), RunConfig(), Profile()
    qt = teacher(q)
    return [
        ("label regimes", "HL, SL, SL+KD", "paper", "the three regimes of the scalability analysis"),
        ("compute budget", "samples seen = steps x batch, same for every subset size", "paper; standard (CCS)",
         "the paper compares at a fixed downstream budget; CCS trains coresets for a fixed number of iterations"),
        ("optimiser (every regime)", f"SGD lr {sgd['lr']}, momentum {sgd['momentum']}, wd {sgd['weight_decay']}, "
         "lr x0.1 at half of the steps", "reconstruction; standard (DC/DM/MTT evaluate_synset)", ""),
        ("HL control with AdamW", f"HL trained with the soft-label papers' optimiser: AdamW lr {adamw['lr']}, "
         f"wd {adamw['weight_decay']}, cosine over steps", "ours; standard (RDED evaluation)",
         "the soft regimes share HL's SGD recipe; this arm checks a verdict against the other optimiser"),
        ("KD temperature", f"T = {TEMPERATURE:g} by default, loss KL x T^2", "reconstruction (T = 20: RDED, SRe2L); "
         "standard (T^2: Hinton et al.)", "RDED's and SRe2L's evaluation code do not scale by T^2; with it a large T "
         "scales SGD's step, so T is chosen on validation"),
        ("KD temperature in the chapters", f"chosen on the validation split from {q.temperatures}",
         "ours", "T = 20 comes from 300-epoch ImageNet runs; at small budgets a high T learns slowly"),
        ("SL labels", "teacher softmax at T on the un-augmented image, once per image", "reconstruction", ""),
        ("augmentation", f"{run.aug.upper()}: one of {', '.join(augment.DSA_FAMILIES)} per batch",
         "reconstruction; standard (DSA)", "RDED's SL+KD uses CutMix; we keep one augmentation for every regime "
         "so the regime gap is a label gap"),
        ("paper-profile student", run.model, "standard (DC/DM/MTT ConvNet-3)", ""),
        ("quick-profile student", q.model, "ours", "CPU time: a width-16 ConvNet-3 trains ~2.5x faster than "
         "width 32 on 2 cores"),
        ("batch size", f"{run.batch} (paper profile), {q.batch} (quick profile)", "reconstruction; ours (quick)",
         "small budgets on CPU need more steps per sample seen"),
        ("teacher", f"trained by ddlib on the full training split, SGD lr {t.lr} {t.schedule}, with the students' "
         f"augmentation ({qt.aug.upper()}); quick profile: {q.teacher_model}, {q.teacher_epochs:g} epochs", "ours",
         "the paper's teachers are not public; SL+KD pays a teacher forward pass per batch, so on CPU it is small; "
         "SL+KD asks it to label the students' augmented views, so it is trained on them"),
        ("teacher floor", ", ".join(f"{k} {v:.0%}" for k, v in FLOORS.items()), "ours",
         "a teacher under the floor is refused, not used"),
        ("validation split", f"{run.val_per_class} images per class from the training set (quick profile: "
         f"{q.val_per_class}), fixed seed", "ours", "never select on the test set; every run evaluates on it, so the "
         "quick profile keeps it small"),
        ("optimiser per regime", ", ".join(f"{k}: {v}" for k, v in DEFAULT_OPTIMIZER.items()) +
         f"; the arm HL (AdamW): AdamW {OPTIMIZERS['adamw']['lr']:g}, cosine", "ours (issue 12)",
         "one recipe for every regime, so a regime gap is not an optimiser gap; the SGD recipe is DC/DM/MTT's "
         "evaluation, the AdamW one RDED's and SRe2L's"),
        ("intervals", "95% t intervals over seeds, comparisons paired by seed", "ours",
         "the same seed draws the same subset in every arm"),
        ("outcomes", "a point holds, is refuted (its interval excludes the claim) or stays open; not reproduced "
         "needs a refutation", "ours (issue 12)", "an interval that includes zero is absence of evidence"),
        ("equivalence margin", "no convincing gain = the gain's upper bound under 1 accuracy point", "ours (issue 12)",
         "'fails to beat random' must be shown, not assumed from a wide interval"),
        ("detectable effect", "80% power at the 5% level from the observed paired spread", "standard (Cohen)",
         "says how large an effect the seeds could have missed"),
        ("seeds", f"{len(q.seeds)} per point (quick)", "ours (issue 12)",
         "with 3 seeds the t factor is 4.3; with 10 it is 2.3"),
        ("saturation criterion", f"SL+KD >= {q.threshold:.0%} of full-data SL+KD at IPC >= {q.min_ipc}, and above "
         "HL's ratio", "ours", "the paper says 'near-optimal'; the threshold makes that testable"),
        ("coreset embeddings", "herding and k-center on the teacher's penultimate features, per class",
         "standard (DeepCore); ours (which network)", "the teacher is the one trained network every chapter has"),
        ("scoring run", f"HL on the full training split, {q.recorder_epochs:g} epochs of {q.recorder_model} "
         "(quick), softmax on un-augmented images after every epoch", "ours",
         "EL2N, forgetting, AUM and CCS need training dynamics; the quick profile keeps the run short"),
        ("best coreset", "the non-random selector with the highest mean validation accuracy", "ours",
         "never select on the test set"),
        ("quality-gain criterion", "HL gain above zero and above each soft regime's gain (paired intervals)",
         "ours", "makes 'beat random only under HL' testable"),
        ("k-view dial", f"SL with k stored (augmented view, teacher label) pairs per image, k in {q.views}", "ours",
         "between SL (k labels = 1, un-augmented) and SL+KD (a fresh label per view)"),
        ("distillers", ", ".join(NAMES[m] for m in q.methods) + "; each method's constants in its Knobs",
         "standard (each method's paper and code); ours (CPU scaling)",
         "iterations, real batch sizes and networks are scaled down for the quick profile; each Knobs field says so"),
        ("distillation network", "the student's network (DM, DC, MTT); the teacher (RDED's observer); a BatchNorm "
         "teacher (SRe2L)", "standard (DC/DM/MTT, RDED, SRe2L)", ""),
        ("RDED crops per side", f"factor {rded.Knobs().factor}, pool {rded.Knobs().pool}, {rded.Knobs().crops} "
         "crops per image", "standard (RDED: factor 1 at 32 px)", ""),
        ("evaluation of distilled sets", "the regime's recipe and budget, as for real subsets; MTT's learned "
         "student lr is recorded, not used", "ours", "one recipe for every set keeps the comparison about the images"),
        ("distilled pixels", "clipped to [0, 1] when stored", "ours", "every set is a valid image file anyone can load"),
        ("distilled sets per seed", f"quick: one per method and IPC (seed {q.distill_seed}), trained with every seed; "
         "paper: one per seed", "standard (DD evaluation); ours (paper profile)",
         "CPU time; intervals then cover training randomness only"),
        ("hard-label criterion", "RDED beats random, most other methods do not, the strongest coreset beats RDED "
         "(HL, paired intervals)", "ours", "makes the paper's claim 3 testable"),
        ("difficulty bins", f"{q.bins} equal quantile bins per class of the {q.difficulty_score} (quick); the "
         "paper profile bins the recorder's EL2N", "ours",
         "the paper's bins are not public; the teacher's loss needs no extra scoring run on CPU"),
        ("best bin per budget", "the bin with the best mean validation accuracy", "ours",
         "never select on the test set"),
        ("difficulty criterion", "the hard-minus-easy gap grows from the smallest to the largest budget, and the best "
         "bin (validation) is harder at the largest", "ours", "makes 'difficulty must match compute' testable"),
        ("CAD-Prune scoring run", "HL, the student's network and batch, K epochs of the full split with K x N = the "
         "downstream samples seen", "reconstruction", "the scoring costs what the downstream run costs"),
        ("CAD-Prune records", f"EL2N on clean images at {ca2d.Knobs().records} evenly spaced points of the scoring "
         "run", "ours", "the paper records per epoch; at our budgets K is a fraction of an epoch"),
        ("CAD-Prune score", f"std of EL2N in windows of J records, mean of the last W (J={ca2d.Knobs().J}, "
         f"W={ca2d.Knobs().W} by default)", "paper (J, W on ImageNet-1K); reconstruction (the rule)", ""),
        ("CAD-Prune choices", f"which end, J, W (and stratify in the paper profile) chosen per budget and IPC on "
         f"validation from: {'; '.join(map(candidate_name, q.cad_grid))}", "ours",
         "the reconstruction guessed them; never select on the test set"),
        ("CAD-Prune probe", f"quick: {q.cad_knobs.get('probe', 0)} images per class scored; paper profile: all",
         "ours (quick)", "the recording passes cost a forward pass per image per record"),
        ("CA2D", f"RDED's crops on CAD-Prune's top {ca2d.Knobs().pool} images per class for the budget, CAD-Prune's "
         "choice from validation", "reconstruction", ""),
        ("CA2D criterion", "CA2D beats the strongest DD method (validation) under HL, paired interval above zero",
         "ours", "makes the paper's claim 4 testable"),
        ("audit of a user's set", "HL, SL and SL+KD at one budget next to random and herding of the same IPC, the "
         "profile's recipe; SL trains on the set's stored soft labels when the file has them", "ours; standard "
         "(DD-Ranking: random under the identical recipe)", "separates what the images give from what the labels "
         "give, at a fair budget"),
        ("sweep workers", "one single-threaded process per CPU core (DDLIB_WORKERS overrides)", "ours",
         "measured faster than one multi-threaded process on 2 cores; the thread count is recorded per run"),
        ("CIFAR-10 files", "JPEG copy (quality ~75) of the standard split", "ours",
         "offline machines; accuracies are close to, not identical with, the original files'"),
    ]


def markdown_table() -> str:
    return _markdown_table(["choice", "value", "source", "why"], choices())
