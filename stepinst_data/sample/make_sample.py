"""Write the embedded sample: 12 SUP-NATINST-format tasks written by this project.

Instances are generated procedurally (arithmetic, lookups in small tables written here, simple
templates), so every reference is correct by construction. One task uses the old upstream schema
(string Definition/Categories, instances without ids) so the reader's normalization is exercised.
Re-run ``python -m stepinst_data.sample.make_sample`` after editing; the output is deterministic.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

from ..source.natinst import definition_sha256

HERE = Path(__file__).resolve().parent
LICENSE = ["Apache 2.0"]
CONTRIBUTORS = ["stepinst contributors"]

CAPITALS = {
    "France": ["Paris"], "Japan": ["Tokyo"], "Kenya": ["Nairobi"], "Canada": ["Ottawa"], "Peru": ["Lima"],
    "Norway": ["Oslo"], "Egypt": ["Cairo"], "Chile": ["Santiago", "Santiago de Chile"], "Italy": ["Rome"],
    "Spain": ["Madrid"], "India": ["New Delhi"], "Ghana": ["Accra"], "Greece": ["Athens"], "Cuba": ["Havana"],
    "Poland": ["Warsaw"], "Portugal": ["Lisbon"], "Austria": ["Vienna"], "Ireland": ["Dublin"],
    "Thailand": ["Bangkok"], "Vietnam": ["Hanoi"], "Mexico": ["Mexico City"], "Germany": ["Berlin"],
    "Sweden": ["Stockholm"], "Finland": ["Helsinki"],
}
ANTONYMS = {
    "hot": ["cold"], "big": ["small", "little"], "fast": ["slow"], "happy": ["sad", "unhappy"], "early": ["late"],
    "light": ["dark", "heavy"], "open": ["closed", "shut"], "full": ["empty"], "strong": ["weak"], "old": ["new", "young"],
    "rich": ["poor"], "high": ["low"], "wet": ["dry"], "hard": ["soft", "easy"], "loud": ["quiet"], "thick": ["thin"],
    "clean": ["dirty"], "wide": ["narrow"], "deep": ["shallow"], "sharp": ["blunt", "dull"], "true": ["false"],
    "win": ["lose"], "buy": ["sell"], "push": ["pull"],
}
PLURALS = {
    "cat": "cats", "child": "children", "mouse": "mice", "box": "boxes", "city": "cities", "knife": "knives",
    "tooth": "teeth", "foot": "feet", "sheep": "sheep", "bus": "buses", "person": "people", "leaf": "leaves",
    "goose": "geese", "baby": "babies", "wolf": "wolves", "potato": "potatoes", "woman": "women", "ox": "oxen",
    "fish": "fish", "church": "churches", "day": "days", "hero": "heroes", "cactus": "cacti", "piano": "pianos",
    "radius": "radii",
}
ELEMENTS = {
    "hydrogen": "H", "helium": "He", "carbon": "C", "nitrogen": "N", "oxygen": "O", "sodium": "Na",
    "magnesium": "Mg", "aluminium": "Al", "silicon": "Si", "sulfur": "S", "chlorine": "Cl", "potassium": "K",
    "calcium": "Ca", "iron": "Fe", "copper": "Cu", "zinc": "Zn", "silver": "Ag", "tin": "Sn", "gold": "Au",
    "mercury": "Hg", "lead": "Pb", "neon": "Ne", "argon": "Ar", "lithium": "Li", "uranium": "U",
}
NOUNS = ["soup", "movie", "hotel room", "concert", "service", "book", "bus ride", "coffee", "game", "lecture"]
POSITIVE = ["wonderful", "delightful", "excellent", "charming", "superb", "pleasant"]
NEGATIVE = ["awful", "boring", "terrible", "disappointing", "dreadful", "unpleasant"]
TOPICS = {
    "sports": ["The striker scored twice in the final", "Our team lost the match on penalties",
               "She ran the marathon in under three hours", "The coach benched two players"],
    "food": ["The bakery sells fresh bread every morning", "He added too much salt to the stew",
             "We grilled vegetables for dinner", "The recipe needs two cups of flour"],
    "weather": ["Heavy rain is expected tomorrow afternoon", "The wind knocked down several trees",
                "It was sunny and warm all weekend", "Snow covered the roads overnight"],
}
NAMES = ["Ana", "Ben", "Chen", "Dara", "Eli", "Fatima", "Goran", "Hana", "Ivo", "Jun", "Kofi", "Lena"]
CITIES = ["Lyon", "Porto", "Kyoto", "Quito", "Oslo", "Accra", "Perth", "Graz", "Hanoi", "Lima"]
WORDS = ["apple", "river", "candle", "mountain", "zebra", "violin", "garden", "lemon", "bridge", "orbit", "kettle", "forest"]


def _ex(input: str, output: str, explanation: str) -> dict:
    return {"input": input, "output": output, "explanation": explanation}


def _task(definition, category, positives, negatives, pairs, reasoning, domain, source="synthetic (stepinst)"):
    return {
        "Contributors": CONTRIBUTORS, "Source": [source], "URL": ["https://github.com/stepinst/stepinst"],
        "Categories": [category], "Reasoning": [reasoning], "Definition": [definition],
        "Input_language": ["English"], "Output_language": ["English"], "Instruction_language": ["English"],
        "Domains": [domain], "Positive Examples": positives, "Negative Examples": negatives,
        "Instances": pairs, "Instance License": LICENSE,
    }


def _with_ids(prefix: str, pairs: list[tuple[str, list[str]]]) -> list[dict]:
    return [
        {"id": f"{prefix}-{hashlib.md5(f'{prefix}{i}{inp}'.encode()).hexdigest()}", "input": inp, "output": out}
        for i, (inp, out) in enumerate(pairs)
    ]


def build_tasks(rng: random.Random) -> dict[str, tuple[str, dict]]:
    """Task name -> (split, task JSON)."""
    tasks: dict[str, tuple[str, dict]] = {}

    pairs = [(f"{a} + {b}", [str(a + b)]) for a, b in ((rng.randint(-50, 500), rng.randint(0, 500)) for _ in range(150))]
    tasks["task9001_stepinst_sample_integer_addition"] = ("train", _task(
        "In this task, you are given an addition of two integers written as 'a + b'. Compute the sum and answer with the resulting integer only.",
        "Program Execution",
        [_ex("12 + 30", "42", "12 plus 30 is 42."), _ex("-5 + 7", "2", "Adding 7 to -5 gives 2.")],
        [_ex("3 + 4", "seven", "The answer must be written with digits, not words.")],
        _with_ids("task9001", pairs), "Numerical Reasoning", "Mathematics"))

    pairs = []
    for _ in range(30):
        values = [rng.randint(-99, 99) for _ in range(rng.randint(3, 8))]
        pairs.append((str(values), [str(max(values))]))
    tasks["task9002_stepinst_sample_list_maximum"] = ("train", _task(
        "You are given a list of integers. Return the largest integer in the list",
        "Program Execution",
        [_ex("[3, -1, 8, 2]", "8", "8 is larger than every other element."), _ex("[-7, -3, -9]", "-3", "-3 is the largest of the negative numbers.")],
        [_ex("[1, 5, 2]", "1", "1 is the smallest element, not the largest.")],
        _with_ids("task9002", pairs), "Numerical Reasoning", "Mathematics"))

    pairs = []
    for _ in range(40):
        label = rng.choice(["positive", "negative"])
        adj = rng.choice(POSITIVE if label == "positive" else NEGATIVE)
        pairs.append((f"The {rng.choice(NOUNS)} was {adj}.", [label]))
    tasks["task9003_stepinst_sample_sentiment_templates"] = ("train", _task(
        "Classify the sentiment of the given sentence as \"positive\" or \"negative\".",
        "Sentiment Analysis",
        [_ex("The soup was delightful.", "positive", "'Delightful' expresses a favourable opinion."), _ex("The movie was boring.", "negative", "'Boring' expresses an unfavourable opinion.")],
        [_ex("The game was superb.", "negative", "'Superb' is favourable, so the label should be positive.")],
        _with_ids("task9003", pairs), "Commonsense Reasoning", "Reviews"))

    pairs = []
    for _ in range(36):
        topic = rng.choice(sorted(TOPICS))
        pairs.append((rng.choice(TOPICS[topic]) + rng.choice([".", "!", " today."]), [topic]))
    tasks["task9004_stepinst_sample_topic_classification"] = ("train", _task(
        "Read the sentence and decide which topic it is about. Answer with one of: sports, food, weather.",
        "Text Categorization",
        [_ex("The goalkeeper saved a penalty.", "sports", "A goalkeeper and a penalty belong to a sports match."), _ex("It rained all day.", "weather", "Rain describes the weather.")],
        [_ex("We baked a cake.", "sports", "Baking a cake is about food.")],
        _with_ids("task9004", pairs), "Commonsense Reasoning", "News"))

    pairs = [(f"What is the capital of {country}?", capitals) for country, capitals in CAPITALS.items()]
    tasks["task9005_stepinst_sample_capital_cities"] = ("train", _task(
        "Answer the question about the capital city of a country. Give only the name of the city.",
        "Question Answering",
        [_ex("What is the capital of Brazil?", "Brasília", "Brasília has been the capital of Brazil since 1960."), _ex("What is the capital of Nepal?", "Kathmandu", "Kathmandu is Nepal's capital.")],
        [_ex("What is the capital of Australia?", "Sydney", "Sydney is the largest city, but the capital is Canberra.")],
        _with_ids("task9005", pairs), "Factual Knowledge", "Geography"))

    pairs = [(word, answers) for word, answers in ANTONYMS.items()]
    tasks["task9006_stepinst_sample_antonyms"] = ("train", _task(
        "Given a word, write its antonym, that is, a word with the opposite meaning.",
        "Word Semantics",
        [_ex("up", "down", "'Down' is the opposite direction of 'up'."), _ex("love", "hate", "'Hate' is the opposite feeling of 'love'.")],
        [_ex("cold", "chilly", "'Chilly' is a synonym of 'cold', not its opposite.")],
        _with_ids("task9006", pairs), "Commonsense Reasoning", "Dictionary"))

    pairs = []
    for name in NAMES * 2:
        year, city = rng.randint(1950, 2005), rng.choice(CITIES)
        triples = f"{name} | birth_year | {year}\n{name} | lives_in | {city}"
        pairs.append((triples, [f"{name} was born in {year} and lives in {city}.", f"{name}, born in {year}, lives in {city}."]))
    tasks["task9007_stepinst_sample_triples_to_text"] = ("train", _task(
        "You are given triples of the form 'subject | relation | object'. Write one fluent sentence that states every fact in the triples.",
        "Data to Text",
        [_ex("Mia | birth_year | 1990\nMia | lives_in | Bern", "Mia was born in 1990 and lives in Bern.", "The sentence states both facts."), _ex("Tom | birth_year | 1975\nTom | lives_in | Cork", "Tom, born in 1975, lives in Cork.", "Both the birth year and the city are mentioned.")],
        [_ex("Sam | birth_year | 1980\nSam | lives_in | Nice", "Sam lives in Nice.", "The birth year is missing.")],
        _with_ids("task9007", pairs), "Relational Reasoning", "Wikipedia"))

    old = {  # an old-schema file: strings instead of lists, no ids, no URL/Reasoning/Instance License
        "Contributors": CONTRIBUTORS, "Source": ["synthetic (stepinst)"], "Categories": "Program Execution",
        "Definition": "Sort the given words in alphabetical order and write them separated by single spaces.",
        "Input_language": ["English"], "Output_language": ["English"], "Instruction_language": ["English"],
        "Domains": ["Dictionary"],
        "Positive Examples": [_ex("pear apple fig", "apple fig pear", "a < f < p."), _ex("dog cat", "cat dog", "c comes before d.")],
        "Negative Examples": [_ex("b a", "b a", "The words were not sorted.")],
        "Instances": [{"input": " ".join(ws), "output": [" ".join(sorted(ws))]} for ws in (rng.sample(WORDS, rng.randint(3, 6)) for _ in range(24))],
    }
    tasks["task9008_stepinst_sample_sort_words"] = ("train", old)

    pairs = [(f"{a} - {b}", [str(a - b)]) for a, b in ((rng.randint(0, 900), rng.randint(0, 900)) for _ in range(120))]
    tasks["task9101_stepinst_sample_integer_subtraction"] = ("test", _task(
        "In this task, you are given a subtraction of two integers written as 'a - b'. Compute the difference and answer with the resulting integer only.",
        "Program Execution",
        [_ex("50 - 8", "42", "50 minus 8 is 42."), _ex("3 - 10", "-7", "The result is negative because 10 is larger than 3.")],
        [_ex("9 - 4", "4 - 9", "The answer must be a single integer.")],
        _with_ids("task9101", pairs), "Numerical Reasoning", "Mathematics"))

    pairs = []
    for _ in range(30):
        label = rng.choice(["positive", "negative"])
        words = POSITIVE if label == "positive" else NEGATIVE
        a, b = rng.sample(words, 2)
        pairs.append((f"I found the {rng.choice(NOUNS)} {a}, honestly {b}", [label]))
    tasks["task9102_stepinst_sample_review_sentiment"] = ("test", _task(
        "Given a short review, say whether the reviewer's opinion is positive or negative. Answer \"positive\" or \"negative\".",
        "Sentiment Analysis",
        [_ex("I found the hotel room charming, honestly pleasant", "positive", "Both adjectives are favourable."), _ex("I found the lecture dreadful, honestly boring", "negative", "Both adjectives are unfavourable.")],
        [_ex("I found the coffee superb", "neutral", "Only positive or negative are allowed.")],
        _with_ids("task9102", pairs), "Commonsense Reasoning", "Reviews"))

    pairs = [(noun, [plural]) for noun, plural in PLURALS.items()]
    tasks["task9103_stepinst_sample_plural_forms"] = ("test", _task(
        "Write the plural form of the given English noun.",
        "Word Semantics",
        [_ex("dog", "dogs", "Most nouns add -s."), _ex("man", "men", "'Man' has an irregular plural.")],
        [_ex("mouse", "mouses", "The plural of 'mouse' is irregular: 'mice'.")],
        _with_ids("task9103", pairs), "Commonsense Reasoning", "Dictionary"))

    pairs = [(f"What is the chemical symbol of {element}?", [symbol]) for element, symbol in ELEMENTS.items()]
    tasks["task9104_stepinst_sample_element_symbols"] = ("test", _task(
        "Answer with the chemical symbol of the element named in the question",
        "Question Answering",
        [_ex("What is the chemical symbol of boron?", "B", "Boron's symbol is B."), _ex("What is the chemical symbol of nickel?", "Ni", "Nickel's symbol is Ni.")],
        [_ex("What is the chemical symbol of gold?", "Go", "Gold's symbol comes from Latin aurum: Au.")],
        _with_ids("task9104", pairs), "Factual Knowledge", "Chemistry"))
    return tasks


STEPS = {
    "task9001_stepinst_sample_integer_addition": ["Read the two integers on either side of the '+' sign.", "Add the second integer to the first, keeping track of negative signs.", "Write the sum as a single integer with digits only."],
    "task9002_stepinst_sample_list_maximum": ["Read every integer in the list.", "Keep the largest value seen so far while going through the list.", "Answer with that largest value."],
    "task9003_stepinst_sample_sentiment_templates": ["Find the adjective that describes the thing in the sentence.", "Decide whether the adjective expresses a favourable or unfavourable opinion.", "Answer \"positive\" for a favourable opinion and \"negative\" otherwise."],
    "task9004_stepinst_sample_topic_classification": ["Read the sentence and find its key nouns and verbs.", "Match these words to sports, food or weather.", "Answer with the single topic that fits best."],
    "task9005_stepinst_sample_capital_cities": ["Identify the country named in the question.", "Recall the city that is the seat of that country's government.", "Answer with the city name only."],
    "task9006_stepinst_sample_antonyms": ["Determine the meaning of the given word.", "Think of a common word with the opposite meaning.", "Answer with that single word."],
    "task9007_stepinst_sample_triples_to_text": ["Read each triple and note its subject, relation and object.", "Turn each relation into a phrase, such as 'was born in' or 'lives in'.", "Combine the phrases into one fluent sentence about the subject.", "Check that every fact appears in the sentence."],
    "task9008_stepinst_sample_sort_words": ["Split the input into words.", "Sort the words alphabetically.", "Join the sorted words with single spaces."],
    "task9101_stepinst_sample_integer_subtraction": ["Read the two integers on either side of the '-' sign.", "Subtract the second integer from the first.", "Write the difference as a single integer, with a minus sign if it is negative."],
    "task9102_stepinst_sample_review_sentiment": ["Find the words that express the reviewer's opinion.", "Decide whether these words are favourable or unfavourable.", "Answer \"positive\" or \"negative\" accordingly."],
    "task9103_stepinst_sample_plural_forms": ["Check whether the noun has an irregular plural form.", "If it does, use the irregular form.", "Otherwise apply the regular spelling rules (-s, -es, -ies, -ves).", "Answer with the plural noun."],
    "task9104_stepinst_sample_element_symbols": ["Identify the element named in the question.", "Recall its symbol in the periodic table.", "Answer with the symbol, capitalized as in the periodic table."],
}

# Base overall quality per task (1-5); annotators deviate from it by at most one point.
QUALITY = {
    "task9001_stepinst_sample_integer_addition": 5, "task9002_stepinst_sample_list_maximum": 5,
    "task9003_stepinst_sample_sentiment_templates": 4, "task9004_stepinst_sample_topic_classification": 3,
    "task9005_stepinst_sample_capital_cities": 4, "task9006_stepinst_sample_antonyms": 3,
    "task9007_stepinst_sample_triples_to_text": 5, "task9008_stepinst_sample_sort_words": 4,
    "task9101_stepinst_sample_integer_subtraction": 5, "task9102_stepinst_sample_review_sentiment": 4,
    "task9103_stepinst_sample_plural_forms": 4, "task9104_stepinst_sample_element_symbols": 3,
}


def steps_records(tasks: dict[str, tuple[str, dict]]) -> list[dict]:
    records = []
    for name, steps in STEPS.items():
        definition = tasks[name][1]["Definition"]
        definition = definition[0] if isinstance(definition, list) else definition
        records.append({
            "task_name": name, "steps": steps, "raw": "\n".join(f"{i}. {s}" for i, s in enumerate(steps, 1)),
            "model": "hand-written", "prompt_version": "sample-v1", "definition_sha256": definition_sha256(definition),
            "created_at": "2026-11-24T00:00:00+00:00", "usage": None,
        })
    return records


def ratings_records(rng: random.Random) -> list[dict]:
    from ..stores.ratings import DEFAULT_RUBRIC

    records = []
    for name, base in QUALITY.items():
        for annotator in ("annotator_a", "annotator_b", "annotator_c"):
            scores = {c: max(1, min(5, base + rng.choice([-1, 0, 0, 0, 1]))) for c in DEFAULT_RUBRIC.criterion_names}
            records.append({"task_name": name, "annotator": annotator, **scores, "comment": ""})
    return records


def main() -> None:
    from ..stores.ratings import DEFAULT_RUBRIC, RatingsStore, read_ratings_store, write_ratings_store

    rng = random.Random(20261124)
    tasks = build_tasks(rng)
    root = HERE / "natinst"
    (root / "tasks").mkdir(parents=True, exist_ok=True)
    (root / "splits" / "default").mkdir(parents=True, exist_ok=True)
    for name, (_, data) in tasks.items():
        with open(root / "tasks" / f"{name}.json", "w", encoding="utf-8") as f:
            json.dump(data, f, indent=4, ensure_ascii=False)
            f.write("\n")
    for split in ("train", "test"):
        names = [n for n, (s, _) in tasks.items() if s == split]
        (root / "splits" / "default" / f"{split}_tasks.txt").write_text("\n".join(names) + "\n", encoding="utf-8")
    (root / "splits" / "default" / "excluded_tasks.txt").write_text("", encoding="utf-8")
    with open(HERE / "steps.jsonl", "w", encoding="utf-8") as f:
        for record in steps_records(tasks):
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
    write_ratings_store(HERE / "ratings.jsonl", RatingsStore(DEFAULT_RUBRIC, ratings_records(rng)))
    read_ratings_store(HERE / "ratings.jsonl")  # the sample must pass our own validation


if __name__ == "__main__":
    main()
