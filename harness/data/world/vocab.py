"""Fixed word lists the generated world draws from.

Plain English words and names keep a 512-token BPE vocabulary meaningful; every list is
a tuple (never a set) so iteration order, and therefore generation, is deterministic.
"""

FIRST_NAMES = (
    "Ada", "Alan", "Alice", "Amos", "Anna", "Arlo", "Bea", "Ben", "Bruno", "Cara",
    "Carl", "Cleo", "Dana", "Dora", "Edgar", "Edith", "Elsa", "Emil", "Ezra", "Fay",
    "Felix", "Flora", "Frank", "Greta", "Gus", "Hana", "Hugo", "Ida", "Igor", "Ines",
    "Ivan", "Jade", "Jonas", "June", "Kai", "Kira", "Lars", "Lena", "Leo", "Lila",
    "Linus", "Luca", "Mara", "Mark", "Maya", "Milo", "Nell", "Nico", "Nina", "Noah",
    "Olga", "Omar", "Otto", "Paul", "Pia", "Quinn", "Rhea", "Rosa", "Ruth", "Sam",
    "Sara", "Silas", "Sofia", "Tara", "Theo", "Tilda", "Tom", "Uma", "Vera", "Victor",
    "Wade", "Wren", "Xena", "Yara", "Yuri", "Zane", "Zoe", "Basil", "Clara", "Dmitri",
)

SURNAMES = (
    "Abbott", "Ambler", "Archer", "Baker", "Barlow", "Beck", "Blake", "Booth", "Brandt",
    "Carver", "Chase", "Cole", "Crane", "Dalton", "Drake", "Dunn", "Ellis", "Emery",
    "Falk", "Fenn", "Fisher", "Foley", "Frost", "Garner", "Gill", "Grey", "Hale",
    "Hart", "Hayes", "Holt", "Horn", "Ivers", "Jensen", "Keane", "Kemp", "Knox", "Lang",
    "Lowe", "Lund", "Marsh", "Meyer", "Moss", "Nash", "Noble", "Novak", "Olsen", "Orr",
    "Park", "Pike", "Price", "Quill", "Reed", "Rowe", "Ruiz", "Sage", "Shaw", "Stone",
    "Strand", "Thorne", "Tate", "Vance", "Voss", "Wade", "Ward", "Webb", "West", "Wolfe",
    "Yates", "York", "Zeller", "Bishop", "Cross", "Finch", "Glass", "Lark", "Mercer",
    "Pryor", "Sutton", "Winter", "Wylie",
)

# Town names are prefix + suffix, so a few dozen parts make hundreds of distinct places.
PLACE_PREFIXES = (
    "Ash", "Bram", "Cold", "Dun", "Elm", "Fair", "Glen", "High", "Iron", "Kings",
    "Lark", "Mill", "North", "Oak", "Pen", "Red", "Salt", "Stone", "Thorn", "West",
    "Wolf", "Yarrow", "Amber", "Brook", "Clay", "Deer", "Frost", "Hazel",
)
PLACE_SUFFIXES = (
    "ford", "more", "wick", "by", "haven", "field", "mouth", "stead", "bury", "dale",
    "gate", "holm", "ton", "well",
)

REGIONS = (
    "the North Vale", "the Salt Coast", "the Amber Hills", "the Lowmarsh",
    "the Iron Downs", "the Green Reach", "the Eastern Fens", "the High Moor",
)

ORG_ADJECTIVES = (
    "Silver", "Golden", "Blue", "Quiet", "Northern", "Bright", "Old", "Swift", "Red",
    "Hidden", "Round", "Tall", "Copper", "Green", "Little", "Grand",
)
ORG_NOUNS = (
    "Kettle", "Lantern", "Anchor", "Harbor", "Mill", "Oak", "Feather", "Bridge",
    "Compass", "Garden", "Hammer", "Orchard", "Candle", "River", "Tower", "Wheel",
)
ORG_KINDS = ("Company", "Guild", "Works", "Trading House", "Cooperative", "Society")

INDUSTRIES = (
    "shipbuilding", "weaving", "brewing", "printing", "clockmaking", "glassmaking",
    "farming", "mining", "bookbinding", "pottery", "fishing", "banking",
)

JOBS = (
    "baker", "carpenter", "teacher", "nurse", "sailor", "miner", "weaver", "printer",
    "farmer", "brewer", "potter", "clerk", "doctor", "painter", "fisher", "blacksmith",
    "tailor", "librarian", "cook", "surveyor", "glazier", "mason", "banker", "musician",
    "gardener", "chemist", "judge", "pilot", "architect", "jeweller",
)

COLOURS = (
    "red", "blue", "green", "yellow", "purple", "orange", "white", "black", "grey",
    "brown", "pink", "teal", "gold", "silver",
)

# Items carry a unit price so word problems can quote prices the world agrees with.
ITEMS = (
    "lantern", "kettle", "blanket", "basket", "candle", "notebook", "teapot", "hammer",
    "rope", "jar of honey", "loaf of bread", "wheel of cheese", "pair of boots",
    "scarf", "map", "compass", "bucket", "chair", "lamp", "clock", "mirror", "plate",
    "cup", "spoon", "brush", "saddle", "barrel", "crate of apples", "sack of flour",
    "bottle of ink", "umbrella", "hat", "bell", "kite", "whistle", "jar of jam",
)

# Things a person can do in a day, for narrative filler in long documents.
ACTIVITIES = (
    "walked along the river", "read a long letter", "repaired a fence",
    "bought fresh bread", "visited an old friend", "wrote in a diary",
    "watched the boats come in", "planted beans", "cleaned the windows",
    "listened to the rain", "mended a coat", "counted the coins in a jar",
    "fed the ducks", "painted a door", "sang an old song", "climbed the hill",
    "swept the yard", "baked a pie", "carried water from the well", "fixed a clock",
)
WEATHER = (
    "rainy", "windy", "sunny", "foggy", "cold", "warm", "grey", "bright", "still",
    "stormy",
)

# Document-local facts for long-context tasks: each has a question and a value maker.
# These are never world facts, so only the document itself can answer them.
LOCAL_FACT_KINDS = (
    # (kind, statement template, question template, value kind)
    ("locker", "The locker number of {name} is {value}.",
     "What is the locker number of {name}?", "number"),
    ("password", "The secret password of {name} is {value}.",
     "What is the secret password of {name}?", "word"),
    ("room", "{name} was given the key to room {value}.",
     "Which room was {name} given the key to?", "number"),
    ("boat", "The boat that {name} owns is called the {value}.",
     "What is the name of the boat that {name} owns?", "word"),
)
PASSWORD_WORDS = (
    "falcon", "juniper", "marble", "thistle", "cobalt", "lantern", "meadow", "saffron",
    "walnut", "harbor", "pepper", "velvet", "orchid", "granite", "willow", "ember",
    "crimson", "hollow", "quartz", "bramble", "sparrow", "tundra", "cinder", "maple",
)
