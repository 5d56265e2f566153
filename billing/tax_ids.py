"""Tax id types (Stripe's, where python-stdnum has a validator) and checking a value against its type.

Stripe's API checks a tax id's format, not its check digits (its documented examples have none right), so the
API refuses only values of the wrong form; the pages customers type into also refuse wrong check digits
(``strict``), which catches a mistyped digit."""

import importlib
import re
from dataclasses import dataclass
from functools import cache

from django.utils.translation import gettext_lazy as _
from stdnum.exceptions import InvalidChecksum, InvalidComponent, ValidationError

from billing.exceptions import InvalidRequest

VAT = _("VAT number")
GST = _("GST number")
TAX_NUMBER = _("Tax number")
BUSINESS_NUMBER = _("Business number")
COMPANY_NUMBER = _("Company number")


@dataclass(frozen=True)
class TaxIdType:
    type: str  # Stripe's
    country: str  # ISO 3166-1 alpha-2; "" for eu_vat (the value's prefix says) and eu_oss_vat
    kind: object  # what the number is called, translated when shown
    module: str  # the python-stdnum module that checks it
    example: str = ""
    acronym: str = ""  # the local name, never translated: "ABN", "CNPJ"

    @property
    def formatted(self) -> bool:
        """Stripe writes these with separators (``12-3456789``); the others as one run of characters."""
        return bool(re.search(r"[\s.\-/]", self.example))


TYPES: dict[str, TaxIdType] = {
    t.type: t
    for t in (
        TaxIdType("ad_nrt", "AD", TAX_NUMBER, "ad.nrt", "A-123456-Z", "NRT"),
        TaxIdType("al_tin", "AL", TAX_NUMBER, "al.nipt", "J12345678N", "NIPT"),
        TaxIdType("ar_cuit", "AR", TAX_NUMBER, "ar.cuit", "12-3456789-01", "CUIT"),
        TaxIdType("au_abn", "AU", BUSINESS_NUMBER, "au.abn", "12345678912", "ABN"),
        TaxIdType("au_acn", "AU", COMPANY_NUMBER, "au.acn", "123456789", "ACN"),
        TaxIdType("az_tin", "AZ", TAX_NUMBER, "az.voen", "0123456789", "VÖEN"),
        TaxIdType("bg_uic", "BG", COMPANY_NUMBER, "bg.vat", "123456789", "UIC"),
        TaxIdType("br_cnpj", "BR", COMPANY_NUMBER, "br.cnpj", "01.234.456/5432-10", "CNPJ"),
        TaxIdType("br_cpf", "BR", TAX_NUMBER, "br.cpf", "123.456.789-87", "CPF"),
        TaxIdType("by_tin", "BY", TAX_NUMBER, "by.unp", "123456789", "UNP"),
        TaxIdType("ca_bn", "CA", BUSINESS_NUMBER, "ca.bn", "123456789", "BN"),
        TaxIdType("ca_gst_hst", "CA", GST, "ca.bn", "123456789RT0002", "GST/HST"),
        TaxIdType("ch_uid", "CH", BUSINESS_NUMBER, "ch.uid", "CHE-123.456.789", "UID"),
        TaxIdType("ch_vat", "CH", VAT, "ch.vat", "CHE-123.456.789 MWST", "MWST"),
        TaxIdType("cl_tin", "CL", TAX_NUMBER, "cl.rut", "12.345.678-K", "RUT"),
        TaxIdType("cn_tin", "CN", TAX_NUMBER, "cn.uscc", "123456789012345678", "USCC"),
        TaxIdType("co_nit", "CO", TAX_NUMBER, "co.nit", "123.456.789-0", "NIT"),
        TaxIdType("cr_tin", "CR", TAX_NUMBER, "cr.cpj", "1-234-567890", "CPJ"),
        TaxIdType("cz_dic", "CZ", TAX_NUMBER, "cz.dic", "12345678", "DIČ"),
        TaxIdType("de_stn", "DE", TAX_NUMBER, "de.stnr", "1234567890", "St.-Nr."),
        TaxIdType("do_rcn", "DO", TAX_NUMBER, "do.rnc", "1-01-85004-3", "RNC"),
        TaxIdType("ec_ruc", "EC", TAX_NUMBER, "ec.ruc", "1234567890001", "RUC"),
        TaxIdType("eg_tin", "EG", TAX_NUMBER, "eg.tn", "123456789", "TIN"),
        TaxIdType("es_cif", "ES", TAX_NUMBER, "es.cif", "A12345678", "NIF"),
        TaxIdType("eu_oss_vat", "", VAT, "eu.oss", "EU123456789", "OSS"),
        TaxIdType("eu_vat", "", VAT, "eu.vat", "DE123456789"),
        TaxIdType("fo_vat", "FO", VAT, "fo.vn", "123456", "V-tal"),
        TaxIdType("fr_siren", "FR", COMPANY_NUMBER, "fr.siren", "123456789", "SIREN"),
        TaxIdType("fr_siret", "FR", COMPANY_NUMBER, "fr.siret", "12345678901234", "SIRET"),
        TaxIdType("fr_spi", "FR", TAX_NUMBER, "fr.nif", "1234567890123", "SPI"),
        TaxIdType("gb_vat", "GB", VAT, "gb.vat", "GB123456789"),
        TaxIdType("gh_tin", "GH", TAX_NUMBER, "gh.tin", "C0000803561", "TIN"),
        TaxIdType("gn_nif", "GN", TAX_NUMBER, "gn.nifp", "123456789", "NIF"),
        TaxIdType("hr_oib", "HR", TAX_NUMBER, "hr.oib", "12345678912", "OIB"),
        TaxIdType("hu_tin", "HU", TAX_NUMBER, "hu.anum", "12892312", "ANUM"),
        TaxIdType("id_npwp", "ID", TAX_NUMBER, "id.npwp", "012.345.678.9-012.345", "NPWP"),
        TaxIdType("il_vat", "IL", VAT, "il.hp", "000012345", "HP"),
        TaxIdType("in_gst", "IN", GST, "in_.gstin", "12ABCDE3456FGZH", "GSTIN"),
        TaxIdType("is_kt", "IS", TAX_NUMBER, "is_.kennitala", "450401-3150", "Kennitala"),
        TaxIdType("is_vat", "IS", VAT, "is_.vsk", "123456", "VSK"),
        TaxIdType("it_cf", "IT", TAX_NUMBER, "it.codicefiscale", "RSSMRA85T10A562S", "Codice fiscale"),
        TaxIdType("jp_cn", "JP", COMPANY_NUMBER, "jp.cn", "1234567891234", "法人番号"),
        TaxIdType("ke_pin", "KE", TAX_NUMBER, "ke.pin", "P000111111A", "PIN"),
        TaxIdType("kr_brn", "KR", BUSINESS_NUMBER, "kr.brn", "123-45-67890", "BRN"),
        TaxIdType("li_uid", "LI", BUSINESS_NUMBER, "ch.uid", "CHE123456789", "UID"),
        TaxIdType("ma_vat", "MA", COMPANY_NUMBER, "ma.ice", "001561191000066", "ICE"),
        TaxIdType("md_vat", "MD", TAX_NUMBER, "md.idno", "1008600038413", "IDNO"),
        TaxIdType("me_pib", "ME", TAX_NUMBER, "me.pib", "12345678", "PIB"),
        TaxIdType("mk_vat", "MK", VAT, "mk.edb", "MK1234567890123", "ЕДБ"),
        TaxIdType("mx_rfc", "MX", TAX_NUMBER, "mx.rfc", "ABC010203AB9", "RFC"),
        TaxIdType("mz_nuit", "MZ", TAX_NUMBER, "mz.nuit", "123456789", "NUIT"),
        TaxIdType("no_vat", "NO", VAT, "no.mva", "123456789MVA", "MVA"),
        TaxIdType("nz_gst", "NZ", GST, "nz.ird", "123456789", "IRD"),
        TaxIdType("pe_ruc", "PE", TAX_NUMBER, "pe.ruc", "12345678901", "RUC"),
        TaxIdType("pl_nip", "PL", TAX_NUMBER, "pl.nip", "1234567890", "NIP"),
        TaxIdType("pt_nif", "PT", TAX_NUMBER, "pt.nif", "123456789", "NIF"),
        TaxIdType("py_ruc", "PY", TAX_NUMBER, "py.ruc", "12345678-9", "RUC"),
        TaxIdType("ro_tin", "RO", TAX_NUMBER, "ro.cf", "1234567890123", "CF"),
        TaxIdType("rs_pib", "RS", TAX_NUMBER, "rs.pib", "123456789", "PIB"),
        TaxIdType("ru_inn", "RU", TAX_NUMBER, "ru.inn", "1234567891", "ИНН"),
        TaxIdType("sg_uen", "SG", BUSINESS_NUMBER, "sg.uen", "123456789F", "UEN"),
        TaxIdType("si_tin", "SI", TAX_NUMBER, "si.ddv", "12345678", "DDV"),
        TaxIdType("sm_coe", "SM", TAX_NUMBER, "sm.coe", "12345", "COE"),
        TaxIdType("sn_ninea", "SN", TAX_NUMBER, "sn.ninea", "12345672A2", "NINEA"),
        TaxIdType("sv_nit", "SV", TAX_NUMBER, "sv.nit", "1234-567890-123-4", "NIT"),
        TaxIdType("th_vat", "TH", VAT, "th.tin", "1234545678781", "TIN"),
        TaxIdType("tr_tin", "TR", TAX_NUMBER, "tr.vkn", "0123456789", "VKN"),
        TaxIdType("tw_vat", "TW", VAT, "tw.ubn", "12345678", "UBN"),
        TaxIdType("us_ein", "US", TAX_NUMBER, "us.ein", "12-3456789", "EIN"),
        TaxIdType("uy_ruc", "UY", TAX_NUMBER, "uy.rut", "123456789012", "RUC"),
        TaxIdType("ve_rif", "VE", TAX_NUMBER, "ve.rif", "A-12345678-9", "RIF"),
        TaxIdType("vn_tin", "VN", TAX_NUMBER, "vn.mst", "1234567890", "MST"),
    )
}

TYPE_CHOICES = [(type_, type_) for type_ in sorted(TYPES)]

# An EU VAT number starts with its country's prefix: Greece writes EL, Northern Ireland XI (a UK number).
EU_VAT_PREFIXES = {
    "AT": "AT", "BE": "BE", "BG": "BG", "CY": "CY", "CZ": "CZ", "DE": "DE", "DK": "DK", "EE": "EE", "EL": "GR",
    "ES": "ES", "FI": "FI", "FR": "FR", "HR": "HR", "HU": "HU", "IE": "IE", "IT": "IT", "LT": "LT", "LU": "LU",
    "LV": "LV", "MT": "MT", "NL": "NL", "PL": "PL", "PT": "PT", "RO": "RO", "SE": "SE", "SI": "SI", "SK": "SK",
    "XI": "GB",
}  # fmt: skip
EU_VAT_EXAMPLES = {
    "AT": "ATU12345678", "BE": "BE0123456789", "BG": "BG123456789", "CY": "CY12345678X", "CZ": "CZ12345678",
    "DE": "DE123456789", "DK": "DK12345678", "EE": "EE123456789", "EL": "EL123456789", "ES": "ESA1234567Z",
    "FI": "FI12345678", "FR": "FRAB123456789", "HR": "HR12345678901", "HU": "HU12345678", "IE": "IE1234567WA",
    "IT": "IT12345678901", "LT": "LT123456789", "LU": "LU12345678", "LV": "LV12345678901", "MT": "MT12345678",
    "NL": "NL123456789B01", "PL": "PL1234567890", "PT": "PT123456789", "RO": "RO1234567890", "SE": "SE123456789001",
    "SI": "SI12345678", "SK": "SK1234567890", "XI": "XI123456789",
}  # fmt: skip
KEPT_PREFIXES = {"gb_vat": "GB", "mk_vat": "MK"}
# Greece's ISO code is GR, but its VAT numbers start with EL; people type either.
PREFIX_ALIASES = {"GR": "EL"}


class TaxIdInvalid(InvalidRequest):
    """The value does not have its type's form (or, strictly checked, its check digits are wrong). ``example`` is
    a value of the right form, ``country`` the country it was checked for ("" when the prefix was unknown)."""

    code = "tax_id_invalid"

    def __init__(self, message: str, *, type: str, country: str = "", example: str = "", checksum: bool = False):
        super().__init__(message, param="value")
        self.type = type
        self.country = country
        self.example = example
        self.checksum = checksum  # the form is right, a check digit is not: a typo


@dataclass(frozen=True)
class ValidTaxId:
    type: str
    value: str  # normalised
    country: str


def compact(value: str) -> str:
    """Without spaces, dots and dashes, upper case: ``de 123.456.789`` -> ``DE123456789``."""
    return re.sub(r"[\s.\-/,]", "", str(value or "")).upper()


@cache
def _module(name: str):
    return importlib.import_module(f"stdnum.{name}")


def _check(module, value: str, *, strict: bool) -> str:
    """stdnum's compact form of a valid value; raises stdnum's ValidationError otherwise (a wrong check digit or an
    unknown part, such as a region code, only when ``strict``)."""
    try:
        return module.validate(value)
    except (InvalidChecksum, InvalidComponent):
        if strict:
            raise
        return module.compact(value)


def _format(module, number: str) -> str:
    """The way the number is written (``12-3456789``, ``CHE-123.456.789 MWST``) where stdnum knows it."""
    formatter = getattr(module, "format", None)
    if formatter is None:
        return number
    try:
        return formatter(number)
    except ValidationError:
        return number


def eu_vat_prefix(value: str) -> str:
    number = compact(value)
    prefix = PREFIX_ALIASES.get(number[:2], number[:2])
    return prefix if prefix in EU_VAT_PREFIXES else ""


def _validate_eu_vat(value: str, *, strict: bool) -> ValidTaxId:
    number = compact(value)
    prefix = eu_vat_prefix(number)
    if not prefix:
        raise TaxIdInvalid(
            "Invalid value for eu_vat: an EU VAT number starts with its country code, for example DE123456789.",
            type="eu_vat",
            example="DE123456789",
        )
    number = prefix + number[2:]
    example = EU_VAT_EXAMPLES[prefix]
    try:
        number = _check(_module("eu.vat"), number, strict=strict)
    except ValidationError as error:
        raise TaxIdInvalid(
            f"Invalid value for eu_vat: not a valid VAT number from {prefix}, for example {example}.",
            type="eu_vat",
            country=EU_VAT_PREFIXES[prefix],
            example=example,
            checksum=isinstance(error, InvalidChecksum),
        )
    return ValidTaxId("eu_vat", number, EU_VAT_PREFIXES[prefix])


def validate(*, type: str, value: str, strict: bool = False) -> ValidTaxId:
    """The normalised tax id, or ``TaxIdInvalid`` (Stripe's ``tax_id_invalid``) naming an example of the form its
    type expects. ``strict``: check digits too (customer-facing pages; Stripe's API checks the form only)."""
    if type == "eu_vat":
        return _validate_eu_vat(value, strict=strict)
    kind = TYPES.get(type)
    if kind is None:
        raise InvalidRequest(
            f"Invalid type: must be one of {', '.join(sorted(TYPES))}.", param="type", code="parameter_invalid_string"
        )
    module = _module(kind.module)
    try:
        number = _check(module, value, strict=strict)
    except ValidationError as error:
        example = f", for example {kind.example}" if kind.example else ""
        raise TaxIdInvalid(
            f"Invalid value for {type}: not a valid {kind.acronym or kind.type}{example}.",
            type=type,
            country=kind.country,
            example=kind.example,
            checksum=isinstance(error, InvalidChecksum),
        )
    if type in KEPT_PREFIXES and not number.startswith(KEPT_PREFIXES[type]):  # stdnum drops what Stripe keeps
        number = KEPT_PREFIXES[type] + number
    return ValidTaxId(type, _format(module, number) if kind.formatted else number, kind.country)
