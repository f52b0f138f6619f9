"""A fixed English calibration text for ``scale = "per_dim"`` of frozen encoders.

Written for this purpose (no data set's text): a config cannot change it, so per-dimension statistics
estimated on it are deterministic and cannot leak training or held-out data.
"""

from __future__ import annotations

__all__ = ["CALIBRATION_TEXT", "calibration_windows"]

CALIBRATION_TEXT = (
    "The river rose slowly through the night, and by morning the lower fields were under water. "
    "Farmers moved their animals to the hill behind the church, where the ground was dry and the grass was thin. "
    "Nobody spoke much; they had seen floods before, and they knew the water would go down in its own time.\n"
    "In the city, the council met to discuss the budget for the coming year. The mayor argued that the roads "
    "needed repair before winter, while several members wanted more money for schools and the public library. "
    "After three hours the meeting ended without a decision, and the vote was postponed until next week.\n"
    "She opened the letter with trembling hands. It was short: two lines in a neat, unfamiliar script, "
    "asking her to come to the station at noon and to tell no one. She read it twice, folded it carefully, "
    "and put it in the pocket of her coat.\n"
    "To bake the bread, mix four cups of flour with a spoon of salt and a packet of yeast. Add warm water "
    "little by little until the dough is soft but not sticky, then knead it for ten minutes and leave it to "
    "rise in a covered bowl for an hour or until it has doubled in size.\n"
    "What is the meaning of a promise that cannot be kept? The old philosopher asked his students this "
    "question every spring, and every spring they gave him different answers. Some said it was a lie; others "
    "said it was a hope, and a few said that it was the only honest thing a person could offer.\n"
    "The match was close until the final minutes, when the visiting team scored twice in quick succession. "
    "Their supporters sang all the way home, while the local fans left the stadium in silence, wondering "
    "how a season that had started so well could end like this.\n"
    "Light travels at about three hundred thousand kilometres per second, yet the light from distant stars "
    "has been on its way for thousands of years. When we look at the night sky we see the past: some of "
    "those stars may no longer exist at all.\n"
    "He was a quiet man who kept bees at the edge of the forest. Every summer he sold honey at the market, "
    "and every winter he mended the hives and read old books by the fire, speaking to his dog as if it "
    "understood every word he said.\n"
    "Good morning! I would like two tickets for the evening train, please. Is there a seat by the window? "
    "Yes, of course, madam; the train leaves at six and arrives a little after nine, if the weather holds.\n"
    "The king was angry, for his messengers had returned with no news of the army. He called for his "
    "counsellors and demanded to know why the enemy had not been found, but none of them dared to answer "
    "him, and the great hall was silent except for the wind against the windows.\n"
    "Children ran along the beach, shouting and laughing, chasing the waves as they came in and running "
    "away as they rushed back. Their parents watched from under a striped umbrella, reading newspapers and "
    "eating cold sandwiches that tasted faintly of sand.\n"
)


def calibration_windows(chars: int) -> list[str]:
    """Overlapping windows of ``chars`` characters (stride ``chars // 4``, at least 1) over the text."""
    stride = max(1, chars // 4)
    text = CALIBRATION_TEXT
    return [text[i : i + chars] for i in range(0, max(1, len(text) - chars + 1), stride)]
