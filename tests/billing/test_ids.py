from billing import ids


def test_ids_are_prefixed_ordered_and_unique():
    made = [ids.generate("cus") for _ in range(2000)]
    assert all(i.startswith("cus_") and len(i) == 4 + 25 for i in made)
    assert made == sorted(made)
    assert len(set(made)) == len(made)


def test_token_is_256_bit():
    token = ids.new_token()
    assert len(token) >= 43 and token != ids.new_token()
