"""The prompt package holds every text unchanged: each constant's SHA-256 digest was taken from
its old home (graphs/prompts.py, activities/heavy.py, activities/judge.py) before the texts moved
into graphs/prompts/. A digest that no longer matches means a reproduced text changed."""

from __future__ import annotations

import hashlib
from types import ModuleType

import pytest

from graphs import prompts
from graphs.prompts import judges, ours, parallelmuse, tongyi

# sha256 of the UTF-8 bytes of a str constant, of repr() for the others (tuples, dicts, floats).
DIGESTS: dict[str, str] = {
    "FAILED_PREDICTION": "faefee19bb6d3cfa6a9baafdf1cf6a000c20af86472055f5627cfaff10438517",
    "IMAGE_PROMPT": "459f767341a1358e69f84c3b52ad063533ac2f6bffeade0d5f1a9aac361ad506",
    "PYTHON_ALL_FAILED": "f58b67389cb522f3f540da06d6ee0e7ed10f374cade026e916b346b8628f2ea6",
    "PYTHON_ENDPOINT_ERROR": "37663ced1697a2bb004a7823692c430a00589b3ee126e5fcdad80c65845bed0d",
    "PYTHON_ENDPOINT_TIMEOUT": "f3a2f75cdabe93c8cbd21a5d89c5825c894263c9c6e93dad5c1a624c1cf4e9e6",
    "PYTHON_FINISHED": "aea84e13a7bd745f6876695b1a17ce197f8b3b20f05a623aed1b8952f12ff530",
    "PYTHON_KILLED": "16b4298fb9cc819e62c3ab06fcf9a14bb3b69c8c8e0a1da7e67cbfb5a3d0ab6c",
    "PYTHON_MEMORY_HINT": "4316ddfde13fe18bd1ca437cf67b1f9c3b6135839dc56d950de4af2393662ffe",
    "PYTHON_MEMORY_SPLIT_HINT": "b3acb9a6d96ff81d8cd705dcbbf39beeae09f314c19b868c807c5efa8f84b3bf",
    "PYTHON_NOT_ISOLATED": "eabea2f87025ae20d494ac42e16c4be5f4d3e5b918188c1935209a085b201a76",
    "PYTHON_RUN_TIMEOUT": "dbf81b7fa9ecaef04a385ac39f051394ccab4961aab240953e7eb4636101c7ef",
    "PYTHON_STDERR": "f337fd54824a7470e909724651ee2282cbe12c3a02b7e6a02a1d24b04150519e",
    "PYTHON_STDOUT": "d6b6a7304673b703fcdb7d393bfcb10bf7290f323c3498e046e41fdd5b6686c9",
    "TRANSCRIBE_PROMPT": "ddc82d47c75c2341ca17c1e4e0547932ee56b5e9775db7d70e5717071c7a142d",
    "VIDEO_PROMPT": "0583658a486daf67a2fa2636c411c55f65b3cafff467f84945fceec1d2a36bf4",
    "CANCELLED_TOOL": "f4c5a9cbcd7202baf1976ccd41a2b4126ee9f75b20bff4ac524c84f024d31a8e",
    "CANCEL_PROMPT": "a76cb6e47cc6c4a008e32de2f7a309321b4ad380b8cc85e3d707965a93d34af6",
    "CJK_RANGE": "3be1a067a3eaf63e047a2b01b6c5790cd5ad7743896e72b3c87b2b5b8e9fc73a",
    "CONVERGE_SYSTEM_PROMPT": "06bac8319b3e7a02ae708bea31cc293f9afadfebb9176ba8478ddde777efe83f",
    "EXTRACTOR_PROMPT": "a784703ec13bd5d6b243c8a8cc9f88ca7c1f4f60ea4c52aeb762cc21cfa6a4f1",
    "EXTRACTOR_TEMPERATURE": "973b372a514f91db8219fef585cdf81b09196afd7948f5fb1e29c2016dd995a0",
    "FORCED_ANSWER_PROMPT": "e5dfe33d1143f1744a49d7c83203359daee6088d2882660bea426735a39f5ca0",
    "FUSE_PROMPT": "0e17e82af318bf30e72797afb294c1132c839f1e5a4f6f0ec51a7a54e940f390",
    "INTEGRATE_PROMPT": "22662c70454a8e833b37404156a88770a1ce24e1e79d34d8daefd1a3823933ea",
    "INVALID_TOOL_CALL_JSON": "1162ada12321334f1a5aa903c8cef494c7c0d523e5358c5038ce2020d00ebb8d",
    "ITERATIVE_EMPTY_REPORT": "d29a0939bcb51176dd565a5e2d33214ce5204806b384bd80a72cb40861cdc7b9",
    "ITERATIVE_FIRST_ROUND": "28d952f0bb2fce820fb3fb3153720804a23281e7d0dd7d69413190a047ae9250",
    "ITERATIVE_FUSION_NOTE": "ec145d8a0d00b0fab93bdac191cc07a380aa6401ae34cd17b361293aa03f7ea5",
    "ITERATIVE_ROUND_PROMPT": "d7fd13c541465d96ef2439c44aba2ebe2fb1c874a807b0eef5e7a9f845764e2c",
    # the four judge prompts: as evaluation/prompt.py of the reference at f72f75d8 evaluates
    # them (computed from that file)
    "JUDGE_PROMPT_BROWSECOMP_OFFICIAL": "2162e9498f34530c9eafe5d3a51ab12c78d4ec51641eb91bee84984c3e442b40",  # noqa: E501
    "JUDGE_PROMPT_GAIA": "4910e78fbab32c7362c27bb18a3b8477b504c796b809d254e0b54bc14debf367",
    "JUDGE_PROMPT_QA": "a8963e4b05ccc176b24de555a969fb38dc6eb4ceb7c7025f955dc5fb691d510e",
    "JUDGE_PROMPT_XBENCH": "471dff6cb8986dfe79c5bd3ef4a175ba237e47ff132c243588065814378eb4e9",
    "LLM_CALL_LIMIT_MESSAGE": "3348dd90155f0fe0437ea77dee3b11099630c1d8511b5ecd30c6aaed3d95458d",
    "NO_ANSWER_FOUND": "98d4e3e0d791ae16f25044f9516b71788cfc2e68c86a052e02be4cccccd90745",
    "OBSERVATION_SEPARATOR": "21b7c532f618849dae21cef0647530c40ca98aa523551818400b699a83e9b2f5",
    "OPENAI_SYSTEM_PROMPT": "dbfef998591f6af7c4428a8e1ee340de035faea20c5a8eceb89a29e9325f8e2d",
    "PARSE_FILE_INVALID_REQUEST": "301b8b397fa8184cfcea6c1e42fc2dc0b56930dd2f0bda38b3586da683425b9d",  # noqa: E501
    "PYTHON_FORMAT_ERROR": "9df41ed6f6a6bf60e8cd5de232631d850b66b65456ccddcfe089ef3c4dc42b5c",
    "REPORT_PROMPT": "11772048439cf3d78a23b07bf28929568d55a33ca2d430900baa38e5749c87b1",
    "REPORT_WRITER_PROMPT": "99038939721e9e5943c259f27b4e3df2a22690ba28540a495838cb2a197cc04d",
    "RESULTS_JOINER": "75a11da44c802486bc6f65640aa48a730f0f684c5c07a42ba3cd1735eb3fb070",
    "RESULT_SNIPPET": "6cd2d28f4332311aced5a76a09c3036b720af5af81c6643dfb8ae06624792654",
    "SCHOLAR_CITED_BY": "58424f69c8bb0e413f061ff5c4e5106db127d63da173bb562169c20a8cf072de",
    "SCHOLAR_DATE_PUBLISHED": "55f051817dcd2128fdd2dac6a622e8b6ec08b51ff2a262e0e01f922253d5909d",
    "SCHOLAR_INVALID_REQUEST": "cfcdf12d3dcbfea0c86909762dab2dcd58b714b1366cf16a3f6a2a7dd51e481d",
    "SCHOLAR_NO_LINK": "65819e8a421eafbe4872c08600af37bceb5630242633964cf55e87d9074aca20",
    "SCHOLAR_NO_RESULTS": "42b295a8e4adcab3ff95bf36200caf88772b2c61ea4ccd64fa715101e5566ff9",
    "SCHOLAR_PDF_LINK": "504ee7fa8fdae28b93fdf2523a47205841b5d3f34b36f6819fd4cb9bd7368409",
    "SCHOLAR_PUBLICATION_INFO": "ba235650079c26b59c01f879b9d8fa11b6550c845fdee39ddda27dcf280dda38",
    "SCHOLAR_RESULTS_HEADER": "94252a19a61d1cb94a04e895989438b03cb2b7f93f02be24b7ae1926a0bdb73f",
    "SCHOLAR_RESULT_ITEM": "d8103781320c1f3378738df0b3abaf90cf3e8bec8a5d69a2ccbd522fb6930a8c",
    "SCHOLAR_TIMEOUT": "8b8b70c7a34af673ef20f54ac17b95713f67e4d2521ae06c70b9c5af6c0a19c2",
    "SEARCH_DATE_PUBLISHED": "9b62e4d6cbe6465836413b32aefc6960c99cfc87759e35b77c0c522f121b4d69",
    "SEARCH_INVALID_REQUEST": "7c4cf363769afb69caa0e147c2d65c492f2ae356d66c7657c4ec5c967172a364",
    "SEARCH_NO_RESULTS": "42b295a8e4adcab3ff95bf36200caf88772b2c61ea4ccd64fa715101e5566ff9",
    "SEARCH_RESULTS_HEADER": "f57a1af067abc02d322b523652f5ff5ab46f2b3fe59c09b10d598955294318a7",
    "SEARCH_RESULT_ITEM": "c35167fe9be32f4c6f78f2ef0b6dea010e9405651d198c069c2743e6819de86d",
    "SEARCH_SOURCE": "b70a0b5203931817863346c849112dd7a74cce37da58c8cdcf37ffb1719fe56e",
    "SEARCH_TIMEOUT": "51d2ccbfe9e0961b1cba3407ea2eec22978803dbf1c85ecda28117c0e45342f0",
    "SERPER_PAYLOAD_EN": "68fbc091bba0307f2bb8b2cbdd7d2681a4c066cb32692240a9a2fb84df51291c",
    "SERPER_PAYLOAD_ZH": "026da0b0a88573a4bf8e48deb2e777ae5d60f582f47574e21987dcb7703bdf15",
    "STEER_NOTE": "c4d8f07999737f14c5bb6dc5ad9ab6d666e2590097b9c2ddd6bb6f5db020ba3e",
    "BUDGET_SKIPPED": "48c1eeb5600c60cbcc1f2b71c3fe33606b950046835452ae5404b34bc8d4d3ad",
    "STOP_SEQUENCES": "dd815ce83a5c24da434bf5b3e2ca83facc3473ef5aaf50fe79ace8b2ba159a7b",
    "SYSTEM_PROMPT": "ba0c5094e2feb8f6ebd0498e3684dda7027bb103feec85bac5292723194b3295",
    "TERMINATION_ANSWER": "0db52f4076c082518412afd3dd3576e2cb0c63703fd7fed5e23ade60efef31d9",
    "TERMINATION_BUDGET": "0af96a8ed622a394e8b2a239284ee46e9a7a7b0ec38191bbd08571b171118dd6",
    "TERMINATION_CANCELLED": "8b47045eb7b8ca42aa967f33ee1d014ba89f8d1ac207426b482d34b5c0d90935",
    "TERMINATION_LLM_LIMIT": "770f3ac7d8355fb793ceb37048e08d38d8a19b8e921cf0f89ad8888d8ea83d5c",
    "TERMINATION_NOT_FOUND": "00e40052afb66b673583e8433d9073b53faf24b2cae9835b52fff4c8d3089b4b",
    "TERMINATION_TIME_LIMIT": "d49b48795a41da2146dcc4308097b57d052edea11fec495906f5dc6e8a811e35",
    "TERMINATION_TOKEN_LIMIT": "c2e449cea6316f87468c8e105492fcc2c22223542e38b2e40a2e1a3b4ff60bbe",
    "TERMINATION_TOKEN_LIMIT_FORMAT_ERROR": "2d9e830812d98a6b271f8dd7bace4e87d9eda88fffc5e1628135969ce2c73d10",  # noqa: E501
    "TOOL_NOT_FOUND": "b0873e4718394d0cddd9bec15effda7db2c6e7dc5e5e75983b75e584c94833da",
    "TOOL_RESPONSE_PREFIX": "0c5ca4f7b6794859bf0ee9480b8f5969f74caa44fcc8fefbe9d59f1c2aed816b",
    "TOOL_RESPONSE_SUFFIX": "c00f7c814034b3836d4693c09f3859d871162f4f46a41fcf73c53493750c9fc3",
    "VIDEO_PLACEHOLDER": "1b1e3673be670773d5dd46852dd4c64908067aacd8e913f5d33b55280af50c4f",
    "VISIT_FAILED_EVIDENCE": "0cc6d96a723a5f2721d496d4c1dab030d16be9e8db4527900f8e3cecc41a08bb",
    "VISIT_FAILED_SUMMARY": "0d26dc6ed28d5adfd9fda886e56ef3f3fd1f1061117aedb8aa7cfe3b18b71edc",
    "VISIT_INVALID_REQUEST": "d3403509584e83cf2b7728bf9be01e3429603dcdaeea1fc7e166b3a5f1290cb7",
    "VISIT_READ_FAILED": "e0016ee2a93c791485cbd39435f75482f6fa84db142e26bba07db8a91983a1d5",
    "VISIT_RESULT": "0026bc6ee7595965f916685022de8316020c10a752dbce14abcb36986d1cd38a",
}

MODULES = (tongyi, parallelmuse, judges, ours)


def _digest(value: object) -> str:
    data = value.encode("utf-8") if isinstance(value, str) else repr(value).encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def _constants(module: ModuleType) -> set[str]:
    return {name for name in vars(module) if name.isupper()}


@pytest.mark.parametrize("name", sorted(DIGESTS))
def test_text_is_byte_for_byte_the_old_one(name: str) -> None:
    assert _digest(getattr(prompts, name)) == DIGESTS[name]


def test_the_package_exports_every_constant_of_its_modules() -> None:
    defined = set().union(*(_constants(module) for module in MODULES))
    assert set(prompts.__all__) == defined == set(DIGESTS)


def test_each_text_lives_in_exactly_one_module() -> None:
    names = [name for module in MODULES for name in _constants(module)]
    assert len(names) == len(set(names))


def test_both_import_styles_give_the_same_object() -> None:
    from graphs.prompts import EXTRACTOR_PROMPT, JUDGE_PROMPT_QA, REPORT_PROMPT, SYSTEM_PROMPT

    assert SYSTEM_PROMPT is prompts.SYSTEM_PROMPT is tongyi.SYSTEM_PROMPT
    assert EXTRACTOR_PROMPT is tongyi.EXTRACTOR_PROMPT
    assert REPORT_PROMPT is parallelmuse.REPORT_PROMPT
    assert JUDGE_PROMPT_QA is judges.JUDGE_PROMPT_QA
