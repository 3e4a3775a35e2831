"""The starter library: ten stretches and mobility exercises written by us for the common
complaints (lower back, hips, neck and shoulders, hamstrings and calves).

The drawings live in static/img/exercises/<slug>.svg.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import Exercise, Sides, User
from portal.services.library import ExerciseInput, LevelInput, create_exercise


@dataclass(frozen=True)
class SeedExercise:
    """One exercise of the starter library with its ladder."""

    slug: str
    data: ExerciseInput
    levels: tuple[LevelInput, ...]


def _picture(slug: str) -> str:
    return f"img/exercises/{slug}.svg"


def _seed(slug: str, levels: tuple[LevelInput, ...], **fields) -> SeedExercise:
    return SeedExercise(slug, ExerciseInput(slug=slug, picture_path=_picture(slug), **fields),
                        levels)


SEED: tuple[SeedExercise, ...] = (
    _seed(
        "kneeling-hip-flexor-stretch",
        name="Kneeling hip flexor stretch",
        summary="Opens up the front of the hip that long sitting tightens, easing a stiff "
                "lower back.",
        why_it_helps=(
            "Your hip flexors, mainly the iliopsoas (the psoas major and the iliacus), run "
            "from your lower spine and pelvis to the top of your thigh. They lift your leg and "
            "help keep your pelvis and core steady. Hours of sitting at a desk, behind the "
            "wheel or on the commute leave them short. Short hip flexors tip the pelvis "
            "forward, which loads the lower back, makes it harder for your glutes to switch "
            "on and leaves your core less stable: a common part of lower back pain and "
            "stiffness. Lengthening them gently, little and often, undoes some of the sitting. "
            "Good moments: after training (especially a lower-body session), in a break from "
            "long sitting, in your morning mobility routine or before bed; daily if your lower "
            "back keeps getting stiff."
        ),
        steps=(
            "Kneel on your right knee on a mat or folded towel, with your left foot flat on "
            "the floor in front so that your left knee is bent at about 90 degrees.",
            "Come up tall, shoulders over hips, hands resting on your front thigh or your hips.",
            "Tuck your pelvis under a little, as if pointing your tailbone down to the floor, "
            "until you feel a stretch at the front of your right hip.",
            "Gently squeeze the buttock of the kneeling side to deepen the stretch without "
            "leaning forward.",
            "Hold for 20 to 30 seconds, breathing slowly, then ease off.",
            "Switch sides: left knee down, right foot in front, and repeat.",
        ),
        cues=(
            "Tailbone down: the stretch comes from tucking the pelvis, not from lunging "
            "forward.",
            "Keep your ribs down and your back long; don't arch.",
            "A gentle glute squeeze on the kneeling side.",
            "Breathe slowly and let the hip soften a little on each breath out.",
            "Mild tension, never pain.",
        ),
        cautions=(
            "Stop if you feel pain in the hip, groin, knee or lower back: mild tension is the "
            "goal.",
            "Don't force it or bounce into the stretch.",
            "Pad the kneeling knee; if kneeling hurts, use the standing version.",
            "After a recent hip or knee injury or operation, check with your therapist first.",
        ),
        body_areas=("hips", "lower_back"),
        moments=("morning", "work_break", "after_training", "before_bed"),
        hold_seconds=30, reps=0, sets=2, sides=Sides.EACH_SIDE,
        regression=(
            "Do it standing instead: take a short split stance holding a chair or the wall, "
            "bend both knees a little, tuck your tailbone down and squeeze the buttock of the "
            "back leg until you feel a gentle stretch at the front of that hip. Keep the "
            "range small and stop well before any pain."
        ),
        levels=(
            LevelInput("Kneeling stretch",
                       "Half-kneeling with the tailbone tucked down and a gentle glute squeeze. "
                       "Hold 20 to 30 seconds each side.",
                       "When 30 s each side feels easy, add the overhead reach."),
            LevelInput("With an overhead reach",
                       "Set up as before, then reach the arm on the kneeling side straight up "
                       "overhead while keeping the tailbone tucked.",
                       "When the overhead reach feels easy for 30 s each side, add the side "
                       "lean."),
            LevelInput("Overhead reach and side lean",
                       "From the overhead reach, lean your upper body gently away from the "
                       "front leg to add a stretch along the side of your body. Keep both hips "
                       "facing forward."),
        ),
    ),
    _seed(
        "knee-to-chest",
        name="Knee to chest",
        summary="A gentle lying stretch for a stiff lower back and the back of the hip.",
        why_it_helps=(
            "Lying on your back takes the weight off your spine, which makes this a kind way "
            "to ease lower back stiffness first thing in the morning or at the end of the day. "
            "Drawing a knee towards your chest rounds the lower back gently and stretches the "
            "buttock."
        ),
        steps=(
            "Lie on your back on a mat or a firm bed, knees bent and feet flat.",
            "Hold behind one thigh, just below the knee, and slowly draw that knee towards "
            "your chest.",
            "Keep the other foot on the floor and your head and shoulders relaxed.",
            "Hold, breathing slowly, then lower the leg with control.",
            "Repeat with the other leg.",
        ),
        cues=(
            "Let your arms do the pulling while your back and hip relax.",
            "Keep your tailbone heavy on the floor.",
            "Hold behind the thigh rather than over the knee.",
        ),
        cautions=(
            "Stop if it hurts, or if you feel pain, tingling or numbness down the leg.",
            "Move slowly in and out; no bouncing.",
        ),
        body_areas=("lower_back", "glutes"),
        moments=("morning", "before_bed"),
        hold_seconds=30, reps=0, sets=2, sides=Sides.EACH_SIDE,
        regression=(
            "Loop a towel behind the thigh and use it to draw the knee only part of the way, "
            "so that your head and shoulders stay relaxed on the floor."
        ),
        levels=(
            LevelInput("One knee", "Draw one knee towards your chest at a time.",
                       "When 30 s each side is comfortable, bring both knees in together."),
            LevelInput("Both knees",
                       "Draw both knees towards your chest together, holding behind the "
                       "thighs, and let your lower back round gently.",
                       "When both knees feel easy, add a slow side-to-side rock."),
            LevelInput("Both knees with a gentle rock",
                       "Holding both knees, rock slowly a few centimetres from side to side to "
                       "ease the muscles either side of your lower back."),
        ),
    ),
    _seed(
        "cat-cow",
        name="Cat\u2013cow",
        summary="Slow, rhythmic movement of the whole spine on hands and knees to loosen a "
                "stiff back.",
        why_it_helps=(
            "Moving the spine through a comfortable range, slowly and in time with your "
            "breath, eases the stiffness that builds up after sitting or sleeping and gets the "
            "small joints of the back moving without load."
        ),
        steps=(
            "Start on hands and knees: hands under your shoulders, knees under your hips.",
            "Breathing out, round your back up towards the ceiling, tuck your tailbone under "
            "and let your head drop.",
            "Breathing in, let your belly sink, lift your tailbone and chest and look "
            "slightly forward.",
            "Flow slowly between the two positions; there and back is one rep.",
        ),
        cues=(
            "Move one part of the spine at a time, from the tailbone up to the head.",
            "Stay within a comfortable range.",
            "Arms straight, weight spread evenly over hands and knees.",
        ),
        cautions=(
            "Pad your knees.",
            "Keep the movement small if arching your back hurts.",
            "If your wrists are sore, rest on your fists or forearms.",
        ),
        body_areas=("lower_back", "upper_back"),
        moments=("morning", "work_break"),
        hold_seconds=0, reps=10, sets=2, sides=Sides.NONE,
        regression=(
            "Do it sitting: sit tall on a chair with your hands on your knees, round your back "
            "as you breathe out and lift your chest as you breathe in."
        ),
        levels=(
            LevelInput("Cat\u2013cow", "Flow slowly between rounding and arching.",
                       "When 2 sets of 10 feel smooth and easy, add a pause and a side bend."),
            LevelInput("With a pause and a side bend",
                       "Pause for one slow breath at each end. Between reps, look over one "
                       "shoulder towards your hip to bend your side, alternating sides."),
        ),
    ),
    _seed(
        "childs-pose",
        name="Child's pose",
        summary="A resting stretch for the back, hips and shoulders.",
        why_it_helps=(
            "Sitting back towards your heels lets the back round gently and lengthens the "
            "muscles along the spine and around the hips, while slow breathing helps the "
            "whole body let go. A good one before bed."
        ),
        steps=(
            "Kneel on a mat with your big toes together and your knees about hip-width apart.",
            "Sit back towards your heels.",
            "Walk your hands forward and lower your chest towards the floor, resting your "
            "forehead on the mat or a cushion.",
            "Let your arms rest long in front of you and breathe slowly into your back.",
        ),
        cues=(
            "Let your hips sink back rather than reaching forward.",
            "Breathe into the back of your ribs.",
            "Let your shoulders drop away from your ears.",
        ),
        cautions=(
            "Put a cushion between your heels and hips, or under your knees, if your knees "
            "complain.",
            "If kneeling deeply hurts your knees, use the chair version instead.",
        ),
        body_areas=("lower_back", "upper_back", "hips"),
        moments=("after_training", "before_bed"),
        hold_seconds=30, reps=0, sets=2, sides=Sides.BOTH,
        regression=(
            "Do it on a chair: sit with your feet apart and fold forward slowly, letting your "
            "arms hang and your chest rest towards your thighs, and breathe."
        ),
        levels=(
            LevelInput("Child's pose", "Rest with arms long in front.",
                       "When 30 s feels easy, walk your hands to one side for a side reach."),
            LevelInput("Side reach",
                       "Walk both hands over to one side to stretch along the opposite side of "
                       "your back; hold, then walk them to the other side."),
        ),
    ),
    _seed(
        "figure-four-glute-stretch",
        name="Figure-four glute stretch",
        summary="A lying stretch for the buttock and the deep muscles at the back of the hip.",
        why_it_helps=(
            "Tight glutes and deep hip rotators pull on the pelvis and add to lower back and "
            "hip aches; runners and people who sit a lot often have them. This position "
            "stretches them while your back rests on the floor."
        ),
        steps=(
            "Lie on your back with both knees bent and your feet flat.",
            "Cross your right ankle over your left thigh, just above the knee, and let the "
            "right knee fall outwards.",
            "Gently press the right knee away from you until you feel a stretch in the right "
            "buttock.",
            "Hold, breathing slowly, then switch sides.",
        ),
        cues=(
            "Pull the toes of the crossed foot up towards your shin to protect the knee.",
            "Keep your head and shoulders relaxed on the floor.",
            "Keep your tailbone down.",
        ),
        cautions=(
            "Stop if you feel pain in the knee of the crossed leg.",
            "Only mild tension in the hip or groin, never pain.",
        ),
        body_areas=("glutes", "hips", "lower_back"),
        moments=("work_break", "after_training"),
        hold_seconds=30, reps=0, sets=2, sides=Sides.EACH_SIDE,
        regression=(
            "Do it sitting on a chair: rest one ankle on the opposite knee and lean forward "
            "slightly with a long back until you feel a gentle stretch."
        ),
        levels=(
            LevelInput("Foot on the floor",
                       "Keep the supporting foot on the floor and press the crossed knee "
                       "gently away.",
                       "When 30 s each side feels easy, lift the supporting foot and draw the "
                       "thigh in."),
            LevelInput("Thigh drawn in",
                       "Lift the supporting foot, hold behind that thigh with both hands and "
                       "draw it gently towards your chest."),
        ),
    ),
    _seed(
        "standing-hamstring-stretch",
        name="Standing hamstring stretch",
        summary="Stretches the back of the thigh with your heel on a low step.",
        why_it_helps=(
            "Tight hamstrings limit how far your pelvis can tip when you bend, so your lower "
            "back ends up doing more of the work. Runners and people who sit for long hours "
            "often feel them. A gentle stretch with a flat back lengthens them without "
            "straining the back."
        ),
        steps=(
            "Stand facing a low step or stair, holding a rail or the wall if you need to.",
            "Put one heel on the step with that leg straight but the knee soft, toes pointing "
            "up.",
            "Keeping your back long, hinge forward from the hips until you feel a stretch "
            "along the back of that thigh.",
            "Hold, breathing slowly, then switch legs.",
        ),
        cues=(
            "Hinge from the hips with your chest up and your back flat.",
            "Soft knee, never locked.",
            "Keep both hips facing forward.",
        ),
        cautions=(
            "Stop if you feel pain behind the knee, or tingling or pins and needles down the "
            "leg.",
            "Don't round your back to reach further.",
            "Use a step low enough for you to stay steady.",
        ),
        body_areas=("hamstrings", "lower_back"),
        moments=("after_training", "work_break"),
        hold_seconds=30, reps=0, sets=2, sides=Sides.EACH_SIDE,
        regression=(
            "Do it lying on your back: loop a towel around one foot and raise that leg only "
            "until you feel a gentle stretch, keeping the other knee bent and foot flat."
        ),
        levels=(
            LevelInput("Heel on a low step", "A step around ankle to mid-shin height.",
                       "When you can hinge forward with a flat back for 30 s each side, use a "
                       "higher step."),
            LevelInput("Higher step",
                       "Use a step around knee height and slide your hands down towards your "
                       "shin while your back stays flat."),
        ),
    ),
    _seed(
        "wall-calf-stretch",
        name="Wall calf stretch",
        summary="Stretches the calf and Achilles against a wall, with a straight then a bent "
                "knee.",
        why_it_helps=(
            "Tight calves are common in runners, walkers and anyone who spends the day in "
            "heels, and they pull on the Achilles tendon and the sole of the foot. With the "
            "knee straight the stretch works the big calf muscle (gastrocnemius); bending the "
            "knee moves it to the deeper soleus."
        ),
        steps=(
            "Stand facing a wall with your hands on it at shoulder height.",
            "Step one foot back, keeping that leg straight and the heel on the floor; bend "
            "the front knee.",
            "Lean your hips towards the wall until you feel a stretch in the calf of the back "
            "leg.",
            "Hold, breathing slowly, then switch legs.",
        ),
        cues=(
            "Back heel down and toes pointing straight ahead.",
            "Keep the back knee straight for the upper calf.",
            "Move your hips towards the wall, not just your shoulders.",
        ),
        cautions=(
            "Stop if you feel a sharp pain in the Achilles or the heel.",
            "If you have had an Achilles problem, go gently and check with your therapist.",
        ),
        body_areas=("calves",),
        moments=("morning", "after_training"),
        hold_seconds=30, reps=0, sets=2, sides=Sides.EACH_SIDE,
        regression=(
            "Take a shorter step back so the stretch is milder, or sit with your leg straight "
            "and a towel looped round the ball of the foot, drawing it gently towards you."
        ),
        levels=(
            LevelInput("Straight knee", "Back knee straight, heel down.",
                       "When 30 s each side feels easy, add the bent-knee hold."),
            LevelInput("Straight, then bent knee",
                       "After the straight-knee hold, bend the back knee a little with the "
                       "heel still down to feel the stretch lower in the calf, and hold again.",
                       "When both holds feel easy, move on to the heel drop on a step."),
            LevelInput("Heel drop on a step",
                       "Stand with the balls of your feet on the edge of a step, holding a "
                       "rail, and let one heel sink slowly below the step."),
        ),
    ),
    _seed(
        "chin-tuck",
        name="Chin tuck",
        summary="Draws your head back over your shoulders to undo a poking-chin desk posture.",
        why_it_helps=(
            "Looking at screens draws the head forward, which loads the muscles at the back "
            "of the neck and across the top of the shoulders. Chin tucks wake up the deep "
            "muscles at the front of the neck and stretch the base of the skull, helping your "
            "head sit back over your shoulders. Easy to do in a work break."
        ),
        steps=(
            "Sit or stand tall with your shoulders relaxed, looking straight ahead.",
            "Glide your chin straight back, as if making a double chin, keeping your eyes "
            "level.",
            "Feel a gentle stretch at the base of your skull and hold for about 5 seconds.",
            "Relax back to where you started: that is one rep.",
        ),
        cues=(
            "Slide back; don't nod down.",
            "Keep your eyes level with the horizon.",
            "Imagine a string lifting the crown of your head.",
        ),
        cautions=(
            "Stop if it makes you dizzy, or causes pain or tingling into the arms.",
            "Keep the movement small and comfortable.",
        ),
        body_areas=("neck_shoulders", "upper_back"),
        moments=("work_break", "morning"),
        hold_seconds=5, reps=10, sets=2, sides=Sides.NONE,
        regression=(
            "Do it lying on your back with your head on a thin pillow, gently pressing the "
            "back of your head into the pillow as you tuck."
        ),
        levels=(
            LevelInput("Sitting chin tuck", "Sitting tall, chin glides straight back.",
                       "When 2 sets of 10 with a 5 s hold are easy, do them against a wall."),
            LevelInput("Against the wall",
                       "Stand with your back and head against a wall and glide your head back "
                       "into the wall with the chin tucked, without tipping your head up."),
        ),
    ),
    _seed(
        "side-neck-stretch",
        name="Side neck stretch",
        summary="Eases the tight band between the side of your neck and your shoulder.",
        why_it_helps=(
            "The muscles at the side of the neck and the top of the shoulder tighten with "
            "stress, long hours at a keyboard and carrying bags. A gentle side bend helps them "
            "let go; good in a work break or before bed."
        ),
        steps=(
            "Sit tall on a chair and hold the edge of the seat with your right hand to keep "
            "that shoulder down.",
            "Tilt your left ear towards your left shoulder until you feel a stretch down the "
            "right side of your neck.",
            "If you like, rest your left hand lightly on your head; don't pull.",
            "Hold, breathing slowly, bring your head up slowly, then switch sides.",
        ),
        cues=(
            "Keep the shoulder on the stretching side heavy.",
            "Ear towards shoulder, not shoulder up to ear.",
            "Face forward; don't twist.",
        ),
        cautions=(
            "Stop if you feel dizzy, or pain or pins and needles into the arm or hand.",
            "Never pull hard on your head.",
        ),
        body_areas=("neck_shoulders",),
        moments=("work_break", "before_bed"),
        hold_seconds=20, reps=0, sets=2, sides=Sides.EACH_SIDE,
        regression=(
            "Let go of the seat and tilt your head only a little, letting its weight do the "
            "work, and hold for a shorter time."
        ),
        levels=(
            LevelInput("Side bend", "Ear towards shoulder, other shoulder held down.",
                       "When 20 s each side feels easy, add the turn towards the armpit."),
            LevelInput("Nose towards the armpit",
                       "From the side bend, turn your nose down towards your armpit to stretch "
                       "the back of the neck; the hand on your head adds only its weight."),
        ),
    ),
    _seed(
        "doorway-chest-stretch",
        name="Doorway chest stretch",
        summary="Opens the chest and the front of the shoulders after hours hunched over a "
                "desk or phone.",
        why_it_helps=(
            "When your shoulders round forward for long periods the chest muscles shorten and "
            "the upper back works harder to hold you up. Stretching the chest lets the "
            "shoulders settle back and eases tension in the upper back and neck."
        ),
        steps=(
            "Stand in a doorway and rest your forearms on the frame, elbows at shoulder "
            "height and bent to about 90 degrees.",
            "Step one foot forward through the doorway.",
            "Lean your body gently forward until you feel a stretch across your chest and the "
            "front of your shoulders.",
            "Hold, breathing slowly, then step back.",
        ),
        cues=(
            "Ribs down; don't let your lower back arch.",
            "Shoulders away from your ears.",
            "Lean from the ankles with your body in one straight line.",
        ),
        cautions=(
            "Stop if you feel pain in the shoulder, or tingling or numbness in the arms or "
            "hands.",
            "If your shoulder has ever dislocated, check with your therapist first.",
        ),
        body_areas=("neck_shoulders", "upper_back"),
        moments=("work_break", "after_training"),
        hold_seconds=30, reps=0, sets=2, sides=Sides.BOTH,
        regression=(
            "Use one arm at a time with the elbow below shoulder height and only a small "
            "lean, or stand tall and clasp your hands behind your back, drawing your shoulder "
            "blades gently together."
        ),
        levels=(
            LevelInput("Elbows at shoulder height", "Forearms on the frame, small lean.",
                       "When 30 s feels easy, raise your elbows a little above your "
                       "shoulders."),
            LevelInput("Elbows higher",
                       "Place your forearms a hand's width higher on the frame to move the "
                       "stretch to the lower part of the chest."),
        ),
    ),
)


def seed_library(session: Session, therapist: User, now: datetime) -> list[Exercise]:
    """Add the starter exercises, published, skipping any whose slug already exists; returns
    all of them in seed order (the hip flexor stretch first)."""
    existing = {e.slug: e for e in session.scalars(
        select(Exercise).where(Exercise.slug.in_([s.slug for s in SEED])))}
    exercises = []
    for seed in SEED:
        exercise = existing.get(seed.slug)
        if exercise is None:
            exercise = create_exercise(session, therapist, seed.data, now, levels=seed.levels,
                                       published=True)
        exercises.append(exercise)
    return exercises
