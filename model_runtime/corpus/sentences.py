"""A built-in sentence generator: templates filled from word lists.

Kiosk/robot-style dialogue lines, so the phoneme mix resembles what the avatar
will say. The lists give well over a million distinct sentences (see
``count_sentences``); the split of a sentence is a stable hash of its text,
which makes train/val/test disjoint by sentence without keeping a pool.
"""
from __future__ import annotations

import hashlib
import re

import numpy as np

NAMES = ("Anna", "Ben", "Clara", "David", "Emma", "Felix", "Grace", "Henry", "Ivy", "Jack",
         "Laura", "Martin", "Nora", "Oscar", "Paula", "Quentin", "Rosa", "Sam", "Tina", "Victor",
         "Wendy", "Yusuf", "Zoe", "Mike", "Olivia", "Peter", "Maria", "Leo", "Sophie", "Tom")
OBJECTS = ("map", "ticket", "coffee", "umbrella", "bicycle", "package", "book", "phone", "key",
           "letter", "camera", "jacket", "guitar", "laptop", "basket", "bottle", "lamp", "wallet",
           "blanket", "sandwich", "painting", "ladder", "helmet", "mirror", "battery", "puzzle",
           "violin", "backpack", "notebook", "bracelet")
ADJECTIVES = ("red", "small", "heavy", "old", "new", "blue", "bright", "quiet", "broken", "shiny",
              "wooden", "yellow", "soft", "tiny", "enormous", "purple", "green", "warm", "cold",
              "strange", "beautiful", "simple", "modern", "famous", "empty", "full", "dusty",
              "clean", "golden", "silver")
PLACES = ("the kitchen", "the station", "the museum", "the library", "the garden", "the office",
          "the harbour", "the market", "the second floor", "the main entrance", "the parking lot",
          "the cafeteria", "the reception desk", "the lecture hall", "the bus stop", "the park",
          "the laboratory", "the hotel lobby", "the bakery", "the pharmacy", "the cinema",
          "the waiting room", "the roof terrace", "the elevator", "the meeting room")
VERBS_PAST = ("found", "bought", "moved", "opened", "painted", "borrowed", "dropped", "fixed",
              "carried", "forgot", "cleaned", "packed", "returned", "wrapped", "checked",
              "ordered", "repaired", "polished", "hid", "lost")
VERBS = ("bring", "show", "find", "open", "check", "carry", "clean", "order", "describe",
         "explain", "measure", "compare", "deliver", "prepare", "pick up", "look at", "choose",
         "return", "repair", "collect")
TIMES = ("today", "tomorrow morning", "this afternoon", "next week", "on Monday", "at noon",
         "in five minutes", "after lunch", "later tonight", "on Friday evening", "every morning",
         "in the spring", "before sunset", "at half past three", "over the weekend")
NUMBERS = ("two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "twelve",
           "fifteen", "twenty", "thirty", "forty", "a hundred")
FEELINGS = ("happy", "surprised", "curious", "tired", "excited", "worried", "pleased", "confused",
            "relieved", "grateful")
TOPICS = ("the weather", "your appointment", "the opening hours", "the new exhibition",
          "the train schedule", "the menu", "the guided tour", "the lost and found",
          "the conference", "the parking fees", "the music festival", "the science fair",
          "the city map", "the football match", "the art workshop")

TEMPLATES = (
    "{name} {verb_past} the {adj} {obj} in {place} {time}.",
    "Could you {verb} the {adj} {obj} to {place}, please?",
    "I think the {adj} {obj} is somewhere near {place}.",
    "Please {verb} the {obj} before {name} arrives {time}.",
    "There are {num} {adj} {obj}s waiting in {place}.",
    "Have you seen the {adj} {obj} that {name} {verb_past}?",
    "Welcome, {name}! Would you like to hear about {topic} {time}?",
    "{name} was {feeling} when the {obj} arrived {time}.",
    "The {obj} costs {num} euros, and {name} will {verb} it {time}.",
    "Let me tell you about {topic} and the {adj} {obj}.",
    "We can meet in {place} {time} to talk about {topic}.",
    "Sorry, I could not {verb} the {obj}. Maybe {name} knows where it is.",
    "My friend {name} feels {feeling} about {topic}.",
    "Take the elevator to {place}, then turn left at the {adj} {obj}.",
    "Yes, of course. The {adj} {obj} is ready {time}.",
    "Hmm, {name}, that is a good question about {topic}.",
    "Oh, you found the {adj} {obj}! {name} will be {feeling}.",
    "Nobody could {verb} the {obj} because it was too {adj}.",
    "Exactly {num} people asked me about {topic} {time}.",
    "If you {verb} the {obj}, I will tell {name} right away.",
)

_FIELDS = {
    "name": NAMES, "obj": OBJECTS, "adj": ADJECTIVES, "place": PLACES, "verb_past": VERBS_PAST,
    "verb": VERBS, "time": TIMES, "num": NUMBERS, "feeling": FEELINGS, "topic": TOPICS,
}
_SLOT = re.compile(r"\{(\w+)\}")
SPLITS = ("train", "val", "test")


def generate(rng: np.random.Generator) -> str:
    template = TEMPLATES[rng.integers(len(TEMPLATES))]
    return _SLOT.sub(lambda m: str(_pick(rng, _FIELDS[m.group(1)])), template)


def _pick(rng: np.random.Generator, words: tuple[str, ...]) -> str:
    return words[rng.integers(len(words))]


def split_of(sentence: str, fractions: tuple[float, float, float] = (0.90, 0.05, 0.05)) -> str:
    """Stable split of a sentence: same text -> same split, on every machine."""
    h = int.from_bytes(hashlib.sha1(sentence.encode("utf-8")).digest()[:8], "big") / 2.0 ** 64
    edge = 0.0
    for name, frac in zip(SPLITS, fractions):
        edge += frac
        if h < edge:
            return name
    return SPLITS[-1]


def generate_for_split(rng: np.random.Generator, split: str, max_tries: int = 10_000) -> str:
    """A sentence that belongs to ``split`` (rejection sampling on the hash)."""
    for _ in range(max_tries):
        sentence = generate(rng)
        if split_of(sentence) == split:
            return sentence
    raise RuntimeError(f"no sentence for split {split!r} after {max_tries} tries")


def count_sentences() -> int:
    """Number of distinct fillings over all templates (an upper bound on distinct texts)."""
    total = 0
    for template in TEMPLATES:
        n = 1
        for field in _SLOT.findall(template):
            n *= len(_FIELDS[field])
        total += n
    return total
