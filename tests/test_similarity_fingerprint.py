"""Normalising and fingerprinting for the similarity report, and what is read out of a submission."""

from __future__ import annotations

import ast
import random

from grader.notebook.cells import Cell
from grader.similarity.extract import answer_question, answer_text, printed_numbers, significant_digits
from grader.similarity.fingerprint import code_prints, kgrams, text_tokens, winnow

ORIGINAL = '''
def deconv2d(input, weights):
    """Fill, convolve, crop."""
    stretched = fill_zeros(input)
    out_channels, in_channels, kh, kw = weights.shape
    result = conv2d(stretched, weights)  # the given conv2d
    margin = kh // 2
    return np.ascontiguousarray(result[:, margin:-margin, margin:-margin])
'''

# renamed, commented, reformatted, a literal changed, independent statements swapped
DISGUISED = '''
def deconv2d(x, w):
    n_out, n_in, size, _ = w.shape   # shapes first
    big = fill_zeros(x)
    edge = size // 3
    res = conv2d(
        big,
        w,
    )
    return np.ascontiguousarray(res[:, edge:-edge, edge:-edge])
'''

DIFFERENT = '''
def deconv2d(input, weights):
    big = fill_zeros(input)
    res = conv2d(big, weights)
    return np.delete(np.delete(res, [0, -1], axis=1), [0, -1], axis=2)
'''


def prints(source: str, k: int = 6, window: int = 4) -> set[int]:
    return set(code_prints(ast.parse(source).body[0], k, window).prints)


def test_names_comments_layout_literals_and_order_do_not_change_the_fingerprints():
    assert prints(ORIGINAL) == prints(DISGUISED)


def test_the_library_calls_a_solution_makes_do():
    assert prints(ORIGINAL) != prints(DIFFERENT)
    assert len(prints(ORIGINAL) & prints(DIFFERENT)) < len(prints(ORIGINAL)) / 2


def test_statements_keep_their_lines_in_the_file():
    cp = code_prints(ast.parse(DISGUISED).body[0], 6, 4, line_offset=10)
    conv = next(s for s in cp.statements if "conv2d" in s.tokens)
    assert (conv.first, conv.last) == (16, 19)
    assert cp.statements[0].tokens[:2] == ["def", "V"]


def test_winnowing_finds_every_shared_run_of_window_plus_k_minus_1_tokens():
    rng = random.Random(3)
    k, window = 4, 3
    for _ in range(200):
        shared = [rng.choice("abcdefgh") for _ in range(window + k - 1)]
        a = [rng.choice("abcdefgh") for _ in range(rng.randrange(10))] + shared
        b = shared + [rng.choice("abcdefgh") for _ in range(rng.randrange(10))]
        ga, gb = kgrams(a, k), kgrams(b, k)
        assert {ga[p] for p in winnow(ga, window)} & {gb[p] for p in winnow(gb, window)}


def test_winnowing_keeps_the_rightmost_minimum_of_each_window_once():
    assert winnow([5, 1, 7, 1, 9, 9, 8], 3) == [1, 3, 6]
    assert winnow([4, 2], 3) == [1]
    assert winnow([], 3) == []


def test_chinese_is_cut_into_characters_and_other_text_into_words():
    tokens, spans = text_tokens("输入是 Gray image，ＲＧＢ有3个通道")
    assert tokens == ["输", "入", "是", "gray", "image", "rgb", "有", "3", "个", "通", "道"]
    assert spans[3] == (4, 8)


def test_printed_floats_with_four_significant_digits_in_order():
    out = {"output_type": "stream", "text": ["epoch 1 step 10 loss 0.6931\n", "dice 0.0935; 1.1111e-05\n",
                                             "torch 1.13.0, tensor([3.0000, 2.5000]), 12345, 0.12.\n"]}
    result = {"output_type": "execute_result", "data": {"text/plain": "0.98765"}}
    cells = [Cell(0, "code", "", outputs=[out]), Cell(1, "markdown", "0.5555"),
             Cell(2, "code", "", outputs=[result])]

    numbers = printed_numbers(cells, 4)

    assert [n.text for n in numbers] == ["0.6931", "1.1111e-05", "2.5000", "0.98765"]
    assert numbers[0].line == "epoch 1 step 10 loss 0.6931"
    assert [significant_digits(v) for v in ("0.0935", "1.1111e-05", "-120.5", "0.6931")] == [3, 5, 4, 4]


def test_answers_are_found_by_tag_or_by_heading():
    tagged = Cell(3, "markdown", "我的答案", tags=["q4-answer"])
    heading = Cell(4, "markdown", "**答案 / Answer (Q5)**：\n\n因为噪声太大。")
    assert answer_question(tagged) == "q4" and answer_text(tagged) == "我的答案"
    assert answer_question(heading) == "q5" and answer_text(heading) == "因为噪声太大。"
    assert answer_question(Cell(5, "markdown", "### Question 5")) is None
    assert answer_question(Cell(6, "code", "# **答案 / Answer (Q1)**")) is None
