"""The studio's words: plain words first, the technical term beside them, one sentence each.

Pages show these as help on hover (the "?" beside a setting) and the Home page lists them all, so a
person who meets "epoch" in a tutorial tomorrow knows it already.
"""

GLOSSARY = {
    "backbone": "A network that already knows how to see: it learned shapes, textures and objects from "
                "millions of photos (ImageNet), and the studio reuses that knowledge for your pictures.",
    "head": "The new last layer added on top of the backbone: it learns to turn what the backbone sees "
            "into your classes.",
    "class": "One of the categories you sort pictures into; one sub-folder of your dataset.",
    "epoch": "One round of training: the network sees every training picture once.",
    "feature extraction": "The backbone stays as it is (frozen); it describes every picture once, and only "
                          "the head learns from those descriptions. Fast.",
    "fine-tuning": "After a warm-up of the head alone, the whole network adjusts a little to your pictures. "
                   "Slower, often more accurate.",
    "L2-SP": "Fine-tuning where every weight is pulled back toward the value it had after pretraining, not toward "
             "zero, so the network keeps what it knew while it adapts. Helps most with few pictures.",
    "domain": "Where pictures come from and how they look: camera, light, background. A model trained on one "
              "domain often does worse on another, even for the same classes.",
    "domain alignment (DANN)": "Training with a second, unlabelled set of pictures from where the model will be "
                               "used: a small domain classifier tries to tell the two sets apart, and the network "
                               "learns to make that impossible (gradient reversal), so what it learned carries over.",
    "combined features": "Several networks describe each picture, and their descriptions are put side by side "
                         "for one last layer to learn from: what one network misses, another may see.",
    "joint training": "The network learns two datasets at once, with a last layer for each and the rest shared "
                      "(multi-task learning): what helps one task can help the other.",
    "Grad-CAM": "A heat map over the picture: the warm places are where the network found the most evidence "
                "for the class, from how its score would change with what the last layers saw there.",
    "feature map": "The network describes each picture with hundreds of numbers; the map squeezes them to two, "
                   "so pictures it finds alike land close together. Classes that form separate groups are easy "
                   "for it; mixed groups are where its mistakes come from.",
    "meta-learning": "Learning to learn: before your classes, the network practises on many small tasks from "
                     "other labelled pictures (pick N classes, learn them from K pictures each, check on others), "
                     "so that it starts where a few steps on a new task go far.",
    "starting point": "What the network knows before training on your pictures: ImageNet's weights, or one of "
                      "your own finished runs (its network, with a new last layer for the new classes). Building on "
                      "your own run is transfer learning from your own source model.",
    "from scratch": "The same network starting from random numbers instead of what it learned before: it "
                    "shows what starting from a trained network bought you.",
    "validation": "Pictures kept aside and never trained on; they measure how often the model is right on "
                  "pictures it has not seen.",
    "accuracy": "The share of validation pictures the model names correctly.",
    "calibration": "How well a model's confidence matches how often it is right: of the answers given at 80%, "
                   "about 80% should be right. The expected calibration error is the average gap between the two.",
    "confusion matrix": "A table of true class (rows) against predicted class (columns): the diagonal is "
                        "right answers, everything else shows which classes get mixed up.",
    "precision": "When the model says this class, how often it is right.",
    "recall": "Of the pictures of this class, how many the model finds.",
    "F1": "One number that balances precision and recall (their harmonic mean).",
    "learning rate": "How big each learning step is: too big and learning jumps around, too small and it "
                     "crawls.",
    "batch size": "How many pictures the network looks at before each learning step.",
    "augmentation": "Small random changes to training pictures (crops, flips) so the network learns the "
                    "thing, not the exact picture.",
    "augmented features": "Varied copies of each training picture (crops, flips) described once by the "
                          "network, beside the picture itself: the last layer learns from more variety at "
                          "the cost of one description per copy, once.",
    "test-time augmentation": "Checking a picture and its mirror image and averaging the two answers (TTA): "
                              "steadier answers for the price of a second look.",
    "class balancing": "When some classes have many more pictures than others, training draws every class "
                       "equally often, so the small ones are not drowned out (a class-balanced sampler).",
    "early stopping": "Stop training once the validation score has not improved for a number of rounds; "
                      "the best model so far is kept.",
    "ImageNet top-1": "How often the network named the right one of 1,000 kinds of objects on ImageNet's "
                      "test pictures: a rough guide to how well it sees.",
    "parameters": "The numbers a network learns; more of them usually means more accurate and slower.",
    "GFLOPs": "Billions of calculations the network needs per picture (GFLOPs): a guide to its speed.",
    "stages": "The blocks a network is built from, from simple edges (first) to whole objects (last).",
    "loss": "How wrong the model is, as one number that training makes smaller; lower is better.",
    "ONNX": "A standard file format for trained networks that many programs and web pages can run.",
    "TorchScript": "A file format that runs the model with PyTorch, without the studio's code.",
    "data-parallel": "Several GPUs train one run together: each takes a share of every batch and they "
                     "average what they learned after each step, so the run ends sooner with the same "
                     "result (torch.distributed, DistributedDataParallel).",
}


# Terms a newcomer cannot know: a page shows each after plain words that say the same, in brackets (as
# label() writes them), never on its own. bare_jargon() finds those that stand alone.
JARGON = ("gradient reversal", "reversed gradient", "MAML", "first-order", "Reptile", "N-way", "K-shot", "GFLOPs",
          "epsilon", "lambda")


def bare_jargon(text: str) -> list[str]:
    """The terms of JARGON that stand outside brackets in a text (or open it: no plain words before them)."""
    depth, depths = 0, []
    for char in text:
        depth += char == "("
        depths.append(depth)
        depth -= char == ")" and depth > 0
    found, folded = [], text.lower()  # "Gradient reversal" opening a sentence is the same term
    for term in JARGON:
        start = folded.find(term.lower())
        while start != -1:
            if depths[start] == 0 or not text[:start].strip(" ("):
                found.append(term)
            start = folded.find(term.lower(), start + 1)
    return found


def explain(term: str) -> str:
    """The one-sentence explanation of a term, for a widget's help."""
    return GLOSSARY[term]


def label(plain: str, term: str) -> str:
    """'Rounds of training (epochs)': plain words, with the term in brackets for those who want it."""
    return f"{plain} ({term})"
