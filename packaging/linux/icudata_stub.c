/* An empty ICU data library for the Linux bundle (packaging/build.sh builds it as
 * libicudata.so.<N> in place of the 32 MB one PySide6's wheel ships, 12 MB of the tarball).
 *
 * Qt links ICU for a few locale services RouteDesk never calls (QCollator, QLocale's
 * case mapping, legacy text codecs, the ICU time-zone backend); with no data those ICU
 * calls report U_MISSING_RESOURCE_ERROR and Qt uses its own tables instead. Text
 * layout, line breaking and UTF-8/16 conversion are Qt's own and need no ICU data.
 *
 * The layout is ICU's own stub data (icu4c/source/stubdata/stubdata.cpp): a data header
 * with a table of contents of zero entries. ICU_DATA_SYMBOL is icudt<major>_dat.
 */
#include <stdint.h>

#ifndef ICU_DATA_SYMBOL
#error "define ICU_DATA_SYMBOL, e.g. -DICU_DATA_SYMBOL=icudt73_dat"
#endif

typedef struct {
    uint16_t size;
    uint8_t reserved;
    uint8_t isBigEndian;
    uint8_t charsetFamily;
    uint8_t sizeofUChar;
    uint8_t reservedByte;
    uint8_t dataFormat[4];
    uint8_t formatVersion[4];
    uint8_t dataVersion[4];
} UDataInfo;

typedef struct {
    uint16_t headerSize;
    uint8_t magic1, magic2;
    UDataInfo info;
    char padding[8];
    uint32_t count, reserved;
    int fakeNameAndData[4];
} ICU_Data_Header;

__attribute__((visibility("default"))) const ICU_Data_Header ICU_DATA_SYMBOL = {
    32, 0xda, 0x27,
    {sizeof(UDataInfo), 0,
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
     1,
#else
     0,
#endif
     0 /* ASCII family */, 2 /* sizeof(UChar) */, 0,
     {0x54, 0x6f, 0x43, 0x50} /* "ToCP" */, {1, 0, 0, 0}, {0, 0, 0, 0}},
    {0, 0, 0, 0, 0, 0, 0, 0},
    0, 0,
    {0, 0, 0, 0},
};
