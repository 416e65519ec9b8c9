"""Whether a model did better than guessing: how far picking a class at random gets by luck.

Guessing among C classes is right on 1/C of the pictures on average, and on few pictures luck takes it
well past that: on 10 pictures of 2 classes it is right on 8 or more about 1 time in 18. A model whose
validation accuracy guessing reaches that often has not shown that it learnt anything (chance level).
The count is the upper tail of the binomial distribution, so it holds for a handful of pictures too.
"""
from __future__ import annotations

import math

LUCK = 0.05  # what guessing does more often than 1 time in 20 is no evidence of learning


def luck_limit(pictures: int, classes: int) -> int:
    """The most right answers that guessing reaches by luck more often than 1 time in 20.

    Args:
        pictures: how many validation pictures were answered.
        classes: how many classes a guess picks from, each as likely.

    Returns:
        A number of right answers from 0 to pictures: a model right on no more has not beaten guessing.
    """
    if pictures < 1 or classes < 2:
        return 0
    log_p, log_q = math.log(1 / classes), math.log1p(-1 / classes)
    tail = 0.0
    for right in range(pictures, -1, -1):  # from all right down: the tail grows to LUCK at the limit
        tail += math.exp(math.lgamma(pictures + 1) - math.lgamma(right + 1) - math.lgamma(pictures - right + 1)
                         + right * log_p + (pictures - right) * log_q)
        if tail > LUCK:
            return right
    return 0


def guessing_words(right: int, pictures: int, classes: int) -> str | None:
    """A warning in plain words when an accuracy is no better than guessing; None when it is better.

    Args:
        right: the validation pictures the model was right on.
        pictures: the validation pictures it answered.
        classes: the classes it chose from.
    """
    limit = luck_limit(pictures, classes)
    if classes < 2 or pictures < 1 or right > limit:
        return None
    accuracy, chance = right / pictures, 1 / classes
    luck = (f"picking one of the {classes} classes at random is right on {chance:.0%} on average, and on "
            f"{pictures} picture{'s' * (pictures != 1)} luck alone reaches {limit / pictures:.0%} "
            "more often than 1 time in 20")
    if accuracy <= chance:
        return (f"It has learnt nothing it can show: right on {accuracy:.0%} of the {pictures} pictures kept aside to "
                f"check it, no better than guessing ({luck}). More rounds, another strategy or more pictures per "
                "class may help.")
    return (f"It may have learnt nothing: right on {accuracy:.0%} of the {pictures} pictures kept aside to check it, "
            f"which guessing could also do ({luck}). More pictures to check on would tell.")
