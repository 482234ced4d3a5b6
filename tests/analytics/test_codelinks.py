"""Which links in an abstract count as code or a project page."""

from scholarlens.analytics.codelinks import classify_host, find_code_links


def test_the_shapes_abstracts_use():
    text = ("Code is released at \\url{https://github.com/ChangyaoTian/ADDP}. The code will be made public at this "
            "https://github.com/penghao-wu/ProxyV URL. Models: huggingface.co/OpenGVLab/HoVLE, and "
            "https://njucckevin.github.io/openmobile/.")
    assert find_code_links(text) == [
        "https://github.com/ChangyaoTian/ADDP",
        "https://github.com/penghao-wu/ProxyV",
        "https://huggingface.co/OpenGVLab/HoVLE",
        "https://njucckevin.github.io/openmobile/",
    ]


def test_other_sites_count_only_when_their_sentence_speaks_of_code_or_a_project():
    assert find_code_links("Our project page is at https://occ.example.org/ for videos.") == ["https://occ.example.org/"]
    assert find_code_links("The peer review history for this article is available at https://publons.com/publon/10.1002/x.") == []
    assert find_code_links("Code is on our site. We also train a language model (https://onlinelibrary.wiley.com/doi/10.1/x).") == []
    assert find_code_links("See https://doi.org/10.5281/zenodo.1 for the code.") == []


def test_hosts():
    assert classify_host("https://gitlab.com/a/b") == "gitlab"
    assert classify_host("https://x.github.io/p") == "github-pages"
    assert classify_host("https://hf.co/a") == "huggingface"
    assert classify_host("https://example.org") == "project-page"
